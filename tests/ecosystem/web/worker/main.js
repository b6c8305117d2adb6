// A module worker that uses sessionguard; the page only relays its answer to the test.
const worker = new Worker(new URL("./session.worker.js", import.meta.url), { type: "module" });
worker.onmessage = (e) => {
  Object.assign(window, e.data); // { exampleResult } or { exampleError }
  document.getElementById("out").textContent = JSON.stringify(e.data);
};
worker.onerror = (e) => { window.exampleError = "the worker failed: " + (e.message || "(no message)"); };
