// Validates the app manifests with the platforms' own definitions, offline:
//   - Teams: Microsoft's validator (@microsoft/app-manifest's ManifestUtil, as the Teams
//     Toolkit runs it) against the manifest schema of the manifest's own version, which the
//     package ships (the $schema URL is not reachable from CI).
//   - Slack: the Manifest type of Slack's Web API SDK (@slack/web-api) turned into a JSON
//     schema (ts-json-schema-generator), plus the limits its documentation states.
// Usage: node validate_manifests.js NODE_MODULES teams:MANIFEST.json slack:MANIFEST.json ...
"use strict";
const fs = require("fs");
const path = require("path");

const [modules, ...inputs] = process.argv.slice(2);
const need = (name) => require(path.join(modules, name));

async function teams(file) {
  const { ManifestUtil } = need("@microsoft/app-manifest");
  const manifest = JSON.parse(fs.readFileSync(file, "utf8"));
  const version = manifest.manifestVersion;
  const schemaFile = path.join(modules, "@microsoft/app-manifest/build/json-schemas/teams", `v${version}`, "MicrosoftTeams.schema.json");
  if (!fs.existsSync(schemaFile)) return [`no Microsoft schema for manifestVersion ${version}`];
  // The same workaround the package applies to schemas it downloads (an invalid \a escape).
  const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8").replace(/\\a/g, "\\x07"));
  const errors = await ManifestUtil.validateManifestAgainstSchema(manifest, schema);
  const expected = `https://developer.microsoft.com/json-schemas/teams/v${version}/MicrosoftTeams.schema.json`;
  if (manifest.$schema !== expected) errors.push(`$schema is ${manifest.$schema}, expected ${expected}`);
  for (const key of ["websiteUrl", "privacyUrl", "termsOfUseUrl"]) {
    if (!/^https:\/\//.test(manifest.developer[key] || "")) errors.push(`developer.${key} must be https`);
  }
  return errors;
}

let slackValidate;
function slackSchema() {
  if (slackValidate) return slackValidate;
  const tsj = need("ts-json-schema-generator");
  const types = path.join(modules, "@slack/web-api/dist/types/request/manifest.d.ts");
  const schema = tsj.createGenerator({ path: types, type: "Manifest", skipTypeCheck: true }).createSchema("Manifest");
  const Ajv = need("ajv").default;
  const ajv = new Ajv({ allErrors: true, strict: false });
  slackValidate = ajv.compile(schema);
  return slackValidate;
}

function slack(file) {
  const manifest = JSON.parse(fs.readFileSync(file, "utf8"));
  const validate = slackSchema();
  const errors = validate(manifest) ? [] : validate.errors.map((e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`);
  // Limits Slack's documentation (and its manifest API) states.
  const info = manifest.display_information || {};
  if ((info.name || "").length > 35) errors.push("display_information.name is longer than 35 characters");
  if ((info.description || "").length > 140) errors.push("display_information.description is longer than 140 characters");
  const long = info.long_description || "";
  if (long && (long.length < 175 || long.length > 4000)) errors.push("display_information.long_description must be 175 to 4000 characters");
  if (info.background_color && !/^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(info.background_color)) errors.push("display_information.background_color is not a hex colour");
  const settings = manifest.settings || {};
  const socket = settings.socket_mode_enabled === true;
  const urls = [];
  for (const command of (manifest.features || {}).slash_commands || []) {
    if (!socket && !command.url) errors.push(`slash command ${command.command} needs a url without Socket Mode`);
    if (command.url) urls.push(command.url);
  }
  const events = settings.event_subscriptions || {};
  if (events.bot_events && events.bot_events.length && !socket && !events.request_url) errors.push("event_subscriptions needs a request_url without Socket Mode");
  if (events.request_url) urls.push(events.request_url);
  const interactivity = settings.interactivity || {};
  if (interactivity.is_enabled && !socket && !interactivity.request_url) errors.push("interactivity needs a request_url without Socket Mode");
  for (const key of ["request_url", "message_menu_options_url"]) if (interactivity[key]) urls.push(interactivity[key]);
  for (const url of urls) if (!/^https:\/\//.test(url)) errors.push(`${url} must be https`);
  const shortcuts = ((manifest.features || {}).shortcuts || []).map((s) => s.callback_id);
  for (const id of ["request_for_access", "request_for_group_membership"]) {
    if (!shortcuts.includes(id)) errors.push(`the shortcut callback id ${id} (terraform-aws-sso-elevator's) is missing`);
  }
  for (const event of ["app_uninstalled", "tokens_revoked"]) {
    if (!(events.bot_events || []).includes(event)) errors.push(`bot event ${event} is not subscribed`);
  }
  return errors;
}

(async () => {
  let failed = false;
  for (const input of inputs) {
    const [kind, file] = [input.slice(0, input.indexOf(":")), input.slice(input.indexOf(":") + 1)];
    const errors = kind === "teams" ? await teams(file) : slack(file);
    if (errors.length) {
      failed = true;
      console.error(`${file}:\n  ${errors.join("\n  ")}`);
    }
  }
  process.exit(failed ? 1 : 0);
})().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
