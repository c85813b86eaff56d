// Validates prometheus-operator objects (ServiceMonitor, PodMonitor, PrometheusRule)
// rendered by the chart against the operator's CRD schemas, as compiled into the npm
// package @kubernetes-models/prometheus-operator (types, enums, required fields; like
// the API server, it ignores unknown fields).
//
//   node helm/ci/check-monitoring.mjs NODE_MODULES_DIR OBJECTS.json
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, objectsPath] = process.argv.slice(2);
const objects = JSON.parse(readFileSync(objectsPath, "utf8"));
const kinds = ["ServiceMonitor", "PodMonitor", "PrometheusRule"];
const models = {};
for (const kind of kinds) {
  const file = join(modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1", `${kind}.js`);
  models[kind] = (await import(pathToFileURL(file).href))[kind];
}

let failures = 0;
for (const object of objects) {
  const where = `${object.kind}/${object.metadata?.name}`;
  const Model = object.apiVersion === "monitoring.coreos.com/v1" ? models[object.kind] : undefined;
  if (!Model) {
    console.error(`  ${where}: no schema for ${object.apiVersion} ${object.kind}`);
    failures++;
    continue;
  }
  try {
    new Model(object).validate();
  } catch (error) {
    console.error(`  ${where}: ${error.message}`);
    failures++;
  }
}
console.log(`  ${objects.length} prometheus-operator objects validated` + (failures ? `; ${failures} invalid` : ""));
process.exit(failures ? 1 : 0);
