// A node:test reporter that writes one JSON line per skipped test ({ file, name, reason }), so
// that scripts/test.mjs can say at the end which suites were skipped and why.
export default async function* skipReporter(source) {
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.skip) {
      const { file, name, skip } = event.data;
      yield `${JSON.stringify({ file, name, reason: typeof skip === 'string' ? skip : '' })}\n`;
    }
  }
}
