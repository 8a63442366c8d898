// The SDK's types come from labgate's OpenAPI document: regenerate them and fail when the
// checked-in src/openapi.ts no longer matches (run `npm run generate` and commit the result).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const document = join(root, "..", "..", "docs", "openapi.json");
const checkedIn = join(root, "src", "openapi.ts");
const scratch = mkdtempSync(join(tmpdir(), "labgate-sdk-types-"));
try {
  const fresh = join(scratch, "openapi.ts");
  execFileSync(process.execPath, [join(root, "node_modules", "openapi-typescript", "bin", "cli.js"), document, "-o", fresh], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (readFileSync(fresh, "utf8") !== readFileSync(checkedIn, "utf8")) {
    console.error(
      "src/openapi.ts differs from what docs/openapi.json generates: run `npm run generate` in sdk/typescript and commit it",
    );
    process.exit(1);
  }
  console.log("src/openapi.ts matches docs/openapi.json");
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
