// Convert an sfdx project's source to Metadata API format with Salesforce's own
// source-deploy-retrieve (what `sf project convert source` and `sf project deploy start` run).
// Usage: node convert.cjs PROJECT_DIR OUTPUT_DIR; prints {"components": [...], "version"}.
const fs = require('fs');
const path = require('path');
const sdr = require(path.join(__dirname, 'node_modules', '@salesforce', 'source-deploy-retrieve'));

(async () => {
  const [project, out] = process.argv.slice(2);
  const config = JSON.parse(fs.readFileSync(path.join(project, 'sfdx-project.json'), 'utf8'));
  const dirs = config.packageDirectories.map((d) => path.join(project, d.path));
  const cs = sdr.ComponentSet.fromSource(dirs);
  cs.sourceApiVersion = config.sourceApiVersion;
  const components = cs.getSourceComponents().toArray()
    .flatMap((c) => [c, ...c.getChildren()])
    .map((c) => `${c.type.name}:${c.fullName}`);
  await new sdr.MetadataConverter().convert(cs, 'metadata', {
    type: 'directory', outputDirectory: out, genUniqueDir: false,
  });
  process.stdout.write(JSON.stringify({ components: components.sort(), version: cs.sourceApiVersion }));
})().catch((err) => {
  process.stderr.write(String((err && err.stack) || err));
  process.exit(1);
});
