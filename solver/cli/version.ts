// The version `odelens --version` prints and exported modules name: the package's (bundled in).
import pkg from '../../package.json';

export const VERSION: string = pkg.version;
