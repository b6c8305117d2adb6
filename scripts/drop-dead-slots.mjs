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
// shims. Runs on wasm-bindgen's output, before wasm-opt, while the name section is there. If
// wasm-bindgen renames its shims the step finds nothing and says so (the build then is only
// larger, never wrong).
//
// usage: node scripts/drop-dead-slots.mjs <module.wasm>   (rewritten in place)
import { readFileSync, writeFileSync } from "node:fs";
import binaryen from "binaryen";

const SHIM = "convert::closures::_::invoke";
const file = process.argv[2];
// the features the module declares (its target_features section) are kept as they are
const mod = binaryen.readBinary(readFileSync(file));

const exported = new Set();
for (let i = 0; i < mod.getNumExports(); i++) {
  const e = binaryen.getExportInfo(mod.getExportByIndex(i));
  if (e.kind === binaryen.ExternalFunction) exported.add(e.value);
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
  if (offset.id !== binaryen.ConstId) throw new Error(`drop-dead-slots: segment ${seg.name} has a computed offset`);
  mod.removeElementSegment(seg.name);
  mod.addActiveElementSegment(seg.table, seg.name, data, mod.i32.const(offset.value));
}
if (!mod.validate()) throw new Error("drop-dead-slots: the rewritten module does not validate");
binaryen.setDebugInfo(true); // keep the names for wasm-opt's passes and the size reports
writeFileSync(file, mod.emitBinary());
console.log(`drop-dead-slots: ${dropped} closure shims no one calls dropped from the table`);
