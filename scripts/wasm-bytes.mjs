// The few pieces of the WebAssembly binary format the build scripts rewrite by hand (the
// export section in minify-names.mjs, the name section in order-functions.mjs): LEB128
// numbers, names, and the list of sections. binaryen.js reads and writes whole modules but
// cannot rename an export or a function in place.

/** The unsigned LEB128 number at `at`, and the offset after it. */
export function readLeb(bytes, at) {
  let n = 0;
  let shift = 0;
  let b;
  do {
    b = bytes[at++];
    n += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [n, at];
}

/** `n` as unsigned LEB128. */
export function leb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
}

/** `text` as a name: its UTF-8 length, then its bytes. */
export function encodeName(text) {
  const b = Buffer.from(text);
  return Buffer.concat([leb(b.length), b]);
}

/** The name at `at`, and the offset after it. */
export function readName(bytes, at) {
  const [len, p] = readLeb(bytes, at);
  return [Buffer.from(bytes.subarray(p, p + len)).toString(), p + len];
}

/** Each section: its `id`, where it `start`s (its id byte), where its `body` starts and `end`s.
 * A custom section (id 0) also has its `name`. */
export function sections(bytes) {
  const out = [];
  for (let at = 8; at < bytes.length; ) {
    const [size, body] = readLeb(bytes, at + 1);
    const s = { id: bytes[at], start: at, body, end: body + size };
    if (s.id === 0) s.name = readName(bytes, body)[0];
    out.push(s);
    at = s.end;
  }
  return out;
}

/** `bytes` with section `s` replaced by a section of id `id` holding `body`. */
export function replaced(bytes, s, id, body) {
  return Buffer.concat([bytes.subarray(0, s.start), Buffer.from([id]), leb(body.length), body, bytes.subarray(s.end)]);
}
