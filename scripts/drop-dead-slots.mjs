// Drops the closure shims nothing can call from the module's function table.
//
// Why: the linker puts a function in the table when its address is taken. wasm-bindgen's
// descriptors take the address of a closure `invoke` shim for every closure type of every
// import the crates declare (js-sys's typed-array callbacks, `Set.forEach`, ...), then
// wasm-bindgen runs and deletes the descriptors, and hands the shims JavaScript does call to
// the glue as exports. The table entries stay, and a table entry keeps its function (and all
// it calls) alive through every optimiser pass. No Rust code calls an `invoke` shim through
// the table: they are `extern "C"` entry points for JavaScript only.
//
// So: every table entry that is a wasm-bindgen closure `invoke` shim (by the name wasm-bindgen
// gives it) and is not exported is pointed at one stub that traps; wasm-opt then deletes the
// shims. Runs on wasm-bindgen's output, before wasm-opt, while the name section is there.
//
// Its preconditions, checked on the input (the build stops when one does not hold, rather than
// ship a module whose stub could be reached):
// - the function table is neither exported nor imported: only the module's own code can call
//   through it, and no Rust code calls an `invoke` shim indirectly (JavaScript calls them by
//   their exports). A wasm-bindgen whose glue called closures through the table would export it;
// - the shims are found by the name wasm-bindgen gives them: none found means wasm-bindgen
//   renamed them (or the name section is gone), and the step would silently do nothing.
//
// usage: node scripts/drop-dead-slots.mjs <module.wasm>   (rewritten in place)
import { readFileSync, writeFileSync } from "node:fs";
import binaryen from "binaryen";

const SHIM = "convert::closures::_::invoke";
const file = process.argv[2];
// the features the module declares (its target_features section) are kept as they are
const mod = binaryen.readBinary(readFileSync(file));

const fail = (why) => {
  console.error(`drop-dead-slots: ${why}; the module was not changed (see CONTRIBUTING.md, "Build steps")`);
  process.exit(1);
};
const exported = new Set();
for (let i = 0; i < mod.getNumExports(); i++) {
  const e = binaryen.getExportInfo(mod.getExportByIndex(i));
  if (e.kind === binaryen.ExternalFunction) exported.add(e.value);
  if (e.kind === binaryen.ExternalTable) fail(`the function table is exported (as "${e.name}"): JavaScript may call any slot`);
}
for (let i = 0; i < mod.getNumTables(); i++) {
  const t = binaryen.getTableInfo(mod.getTableByIndex(i));
  if (t.module) fail(`the function table is imported (${t.module}.${t.base}): another module may call any slot`);
}

const STUB = "sessionguard_dead_slot";
let dropped = 0;
const segments = [];
for (let i = 0; i < mod.getNumElementSegments(); i++) segments.push(binaryen.getElementSegmentInfo(mod.getElementSegmentByIndex(i)));
for (const seg of segments) {
  const data = seg.data.map((name) => {
    if (name.includes(SHIM) && !exported.has(name)) {
      dropped++;
      return STUB;
    }
    return name;
  });
  if (data.every((n, k) => n === seg.data[k])) continue;
  if (!mod.getFunction(STUB)) mod.addFunction(STUB, binaryen.none, binaryen.none, [], mod.unreachable());
  const offset = binaryen.getExpressionInfo(seg.offset);
  if (offset.id !== binaryen.ConstId) fail(`segment ${seg.name} has a computed offset`);
  mod.removeElementSegment(seg.name);
  mod.addActiveElementSegment(seg.table, seg.name, data, mod.i32.const(offset.value));
}
if (dropped === 0) fail(`no table slot holds a function named like "${SHIM}": wasm-bindgen renamed its closure shims, or the name section is gone`);
if (!mod.validate()) fail("the rewritten module does not validate");
binaryen.setDebugInfo(true); // keep the names for wasm-opt's passes and the size reports
writeFileSync(file, mod.emitBinary());
console.log(`drop-dead-slots: ${dropped} closure shims no one calls dropped from the table`);
