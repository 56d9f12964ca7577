// Restricted Mode on the server's side: a document's analysis reads no data file (its data line says why),
// the document is marked restricted, and its CodeLens row runs no command, it only says why nothing is checked.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DocumentStore } from '../../server/documentStore';
import { codeLenses } from '../../server/codeLenses';

const MODEL = `state x
init x = 1
par k = 1
x' = -k*x
data obs = "obs.csv"
loss = sum((x(obs) - 1)^2)
@ total=1, steps=8, meth=rk4
done
`;

for (const restricted of [false, true]) {
  test(`data files and CodeLens ${restricted ? 'in Restricted Mode' : 'in a trusted workspace'}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'odelens-restricted-'));
    writeFileSync(join(dir, 'obs.csv'), 't,x\n0.5,0.6\n1,0.4\n');
    const uri = pathToFileURL(join(dir, 'm.ode')).href;
    const store = new DocumentStore(() => {});
    store.setWorkspaceFolders([pathToFileURL(dir).href]);
    store.restricted = restricted;
    const st = store.setContent(uri, 1, MODEL);
    // A trusted workspace reads the model's files ahead (off the main thread); Restricted Mode reads none.
    assert.equal(await store.refreshFiles(st), !restricted);
    const dataFile = st.analysis.diagnostics.filter((d) => d.code === 'data-file');
    const lenses = codeLenses(st);
    if (restricted) {
      assert.equal(dataFile.length, 1);
      assert.match(dataFile[0].message, /Restricted Mode/);
      assert.equal(st.restricted, true);
      assert.ok(!lenses.some((l) => l.command?.command), 'no command runs in Restricted Mode');
      // Without its data the model does not analyse; a model without data shows why nothing is checked.
      const plain = store.setContent(`${uri}.plain`, 1, MODEL.replace(/^data.*\n/m, '').replace('x(obs)', 'x(T)'));
      assert.deepEqual(
        codeLenses(plain).map((l) => l.command?.title),
        ['Restricted Mode: gradient checks and data files need a trusted workspace'],
      );
    } else {
      assert.deepEqual(dataFile, [], JSON.stringify(st.analysis.diagnostics));
      assert.equal(lenses.length, 5);
    }
  });
}
