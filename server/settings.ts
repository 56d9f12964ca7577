// Where the server's settings come from: the client's workspace/configuration, asked
// once per document and kept until the configuration changes; clients without it
// (and tests) send them as initializationOptions or with didChangeConfiguration.
import { DidChangeConfigurationNotification, type Connection, type InitializeParams } from 'vscode-languageserver/node';
import { DEFAULT_SETTINGS, normaliseSettings, type OdeLensSettings } from '../protocol/settings';

export class SettingsSource {
  private hasConfigurationCapability = false;
  private globalSettings: OdeLensSettings = DEFAULT_SETTINGS;
  private readonly documentSettings = new Map<string, Promise<OdeLensSettings>>();

  constructor(private readonly connection: Connection) {}

  /** The settings of the workspace (not of one document). */
  get global(): OdeLensSettings {
    return this.globalSettings;
  }

  initialize(params: InitializeParams): void {
    this.hasConfigurationCapability = !!params.capabilities.workspace?.configuration;
    // Clients without workspace/configuration (or tests) may pass settings as initializationOptions.
    const init = params.initializationOptions as { settings?: unknown } | undefined;
    if (init && typeof init === 'object')
      this.globalSettings = normaliseSettings((init as { settings?: unknown }).settings ?? init);
  }

  async initialized(): Promise<void> {
    if (!this.hasConfigurationCapability) return;
    void this.connection.client
      .register(DidChangeConfigurationNotification.type, { section: 'odeLens' })
      .catch(() => {});
    try {
      const raw = await this.connection.workspace.getConfiguration('odeLens');
      if (raw != null) this.globalSettings = normaliseSettings(raw);
    } catch {
      /* keep defaults */
    }
  }

  /** didChangeConfiguration: ask again; a client without workspace/configuration sends the section itself. */
  changed(settings: unknown): void {
    this.documentSettings.clear();
    if (!this.hasConfigurationCapability) {
      const s = (settings as { odeLens?: unknown } | null)?.odeLens;
      if (s) this.globalSettings = normaliseSettings(s);
    }
  }

  forDocument(uri: string): Promise<OdeLensSettings> {
    if (!this.hasConfigurationCapability) return Promise.resolve(this.globalSettings);
    let s = this.documentSettings.get(uri);
    if (!s) {
      s = this.connection.workspace.getConfiguration({ scopeUri: uri, section: 'odeLens' }).then(
        (raw) => (raw == null ? this.globalSettings : normaliseSettings(raw)),
        () => this.globalSettings,
      );
      this.documentSettings.set(uri, s);
    }
    return s;
  }

  forget(uri: string): void {
    this.documentSettings.delete(uri);
  }
}
