// dist/talkbox.d.ts beside dist/talkbox.js, so `import … from "./talkbox.js"` finds its types.
import { writeFileSync } from "node:fs";

writeFileSync(new URL("../dist/talkbox.d.ts", import.meta.url), 'export * from "./types/client/index";\n');
