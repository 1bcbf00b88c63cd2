// as-pect: firmware unit tests (assembly/__tests__/*.spec.ts), compiled with the
// options in as-pect.asconfig.json (a managed runtime for the test framework; the
// firmware itself is built by asconfig.json with --runtime stub).
export default {
  entries: ["assembly/__tests__/**/*.spec.ts"],
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
