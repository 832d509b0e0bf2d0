// The audit page's verifier (src/verify/, its own module): checks an entry's inclusion proof
// against a header and that header's finality certificates from the trusted genesis header;
// STEPS names its steps with a title a page can show.
export { STEPS, entryDifferences, verifyEntry } from "./verify/index.js";
