// Validate Argo CD objects against Argo CD's own types, from @kubernetes-models/argo-cd (generated
// from Argo CD's CRDs and Go types), and the Prometheus Operator's ServiceMonitor and
// PrometheusRule against @kubernetes-models/prometheus-operator (generated from its CRDs). Both
// are pinned in package.json / package-lock.json next to this file.
//
//   node tests/argocd/validate.mjs < documents.json
//
// stdin: a JSON list of Kubernetes objects. stdout: one JSON line per object,
// {"kind", "name", "errors": [...]}. Exit 0 when every object is a valid object of a kind below,
// 1 when any is not, 2 when the tools are not installed.
//
// Two checks, because neither alone is enough:
// 1. the package's JSON-schema validators: required fields, types, enums, formats. They let
//    unknown fields through (as the CRD's schema does: the API server would silently drop them);
// 2. the package's TypeScript interfaces, through `tsc`: an object literal may only name known
//    fields, so a typo such as `syncPolicy.automatd` (an Application that never syncs) is caught.
// The tools are installed by `make install` into .node-tools/ (override: ARGOCD_MODELS_DIR).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.ARGOCD_MODELS_DIR ?? resolve(here, "../../.node-tools/node_modules");
// apiVersion -> the package that models it, and the kinds checked.
const GROUPS = {
  "argoproj.io/v1alpha1": {
    module: "@kubernetes-models/argo-cd/argoproj.io/v1alpha1",
    kinds: ["Application", "AppProject"],
  },
  "monitoring.coreos.com/v1": {
    module: "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1",
    kinds: ["ServiceMonitor", "PrometheusRule"],
  },
};
const tsc = join(modules, "typescript/bin/tsc");
const entries = Object.values(GROUPS).map((group) => join(modules, group.module, "index.js"));
for (const needed of [...entries, tsc]) {
  if (!existsSync(needed)) {
    console.error(`${needed} not found: run \`make install\` (npm ci into .node-tools/)`);
    process.exit(2);
  }
}
const MODELS = {};
for (const [apiVersion, group] of Object.entries(GROUPS)) {
  const models = await import(pathToFileURL(join(modules, group.module, "index.js")).href);
  MODELS[apiVersion] = Object.fromEntries(group.kinds.map((kind) => [kind, models[kind]]));
}
const KNOWN = Object.entries(GROUPS)
  .map(([apiVersion, group]) => `${apiVersion} ${group.kinds.join(" or ")}`)
  .join(", nor a ");

// Errors of `tsc` on `const o<i>: I<Kind> = <object>;`, by object index.
function typeErrors(objects) {
  const header = Object.values(GROUPS).flatMap((group) =>
    group.kinds.map((kind) => `import type { I${kind} } from "${group.module}/${kind}";`),
  );
  const lines = objects.map((object, i) => `export const o${i}: I${object.kind} = ${JSON.stringify(object)};`);
  // Next to node_modules, so that the package's types resolve.
  const dir = mkdtempSync(join(modules, "..", ".check-"));
  try {
    const file = join(dir, "objects.ts");
    writeFileSync(file, [...header, ...lines].join("\n") + "\n");
    const result = spawnSync(
      process.execPath,
      [tsc, "--noEmit", "--strict", "--skipLibCheck", "--pretty", "false",
       "--module", "nodenext", "--moduleResolution", "nodenext", file],
      { encoding: "utf8" },
    );
    const errors = objects.map(() => []);
    for (const line of result.stdout.split("\n")) {
      const match = line.match(/objects\.ts\((\d+),\d+\): error (TS\d+: .*)$/);
      if (!match) continue;
      const index = Number(match[1]) - header.length - 1;
      if (!errors[index]) throw new Error(`tsc reported an error outside the objects: ${line}`);
      errors[index].push(match[2]);
    }
    if (result.status !== 0 && errors.every((list) => list.length === 0)) {
      throw new Error(`tsc failed without a finding:\n${result.stdout}${result.stderr}`);
    }
    return errors;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const objects = JSON.parse(readFileSync(0, "utf8"));
const reports = objects.map((object) => ({
  kind: object?.kind ?? null,
  name: object?.metadata?.name ?? null,
  errors: [],
}));
const known = [];
objects.forEach((object, i) => {
  const Model = MODELS[object?.apiVersion]?.[reports[i].kind];
  if (!Model) {
    reports[i].errors.push(`not an ${KNOWN} (${object?.apiVersion} ${reports[i].kind})`);
    return;
  }
  known.push(i);
  try {
    new Model(object).validate();
  } catch (error) {
    reports[i].errors.push(...String(error.message).split("\n").filter(Boolean));
  }
});
if (known.length) {
  typeErrors(known.map((i) => objects[i])).forEach((errors, j) => reports[known[j]].errors.push(...errors));
}
for (const report of reports) console.log(JSON.stringify(report));
process.exit(reports.some((report) => report.errors.length) ? 1 : 0);
