// electron-builder afterPack hook (package.json build.afterPack).
//
// The built-in backend runs from resources/app.asar.unpacked/out/main/backend/index.js, a child
// process outside the asar (L9). Our bundles are ES modules, but the package.json that says so
// ("type": "module") stays inside app.asar, where Node looking up the module type from the
// unpacked folder never finds it. Give the unpacked out/ folder its own, so the backend does not
// depend on Node's guesswork (module syntax detection). Files added to the asar through
// `files`/`from`-`to` are not unpacked, hence a hook.
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

exports.default = async function afterPack(context) {
  const resources = context.packager.getResourcesDir(context.appOutDir);
  const out = join(resources, 'app.asar.unpacked', 'out');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'package.json'), `${JSON.stringify({ type: 'module' }, null, 2)}\n`);
};
