#!/usr/bin/env bash
# Builds the Teams app package (dist/liftgate-teams.zip): manifest.json with the ids and the
# domain filled in, plus the two icons. Upload the zip in the Teams admin center or the
# Developer Portal (or sideload it).
#
#   manifests/teams/package.sh --bot-app-id GUID --domain liftgate.example.com \
#       [--teams-app-id GUID] [--version 1.0.0] [--out DIR] \
#       [--website-url URL] [--privacy-url URL] [--terms-url URL]
#
# --bot-app-id is the Azure Bot's Microsoft App ID (teams.app_id). --teams-app-id identifies
# the Teams app itself; it defaults to the bot's id, which is the usual choice. Keep it stable
# across versions, or Teams treats a new upload as a different app.
# The developer links Teams shows on the app's page (https only) default to the pages the
# gateway serves, https://DOMAIN/teams/privacy and https://DOMAIN/teams/terms (the website
# link to the privacy page); point them at your own pages with the options or with the
# environment variables LIFTGATE_TEAMS_WEBSITE_URL, LIFTGATE_TEAMS_PRIVACY_URL and
# LIFTGATE_TEAMS_TERMS_URL.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bot_app_id=""
teams_app_id=""
domain=""
version="1.0.0"
out="$root/dist"
website_url="${LIFTGATE_TEAMS_WEBSITE_URL:-}"
privacy_url="${LIFTGATE_TEAMS_PRIVACY_URL:-}"
terms_url="${LIFTGATE_TEAMS_TERMS_URL:-}"

usage() {
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --bot-app-id) bot_app_id="${2:-}"; shift 2 ;;
    --teams-app-id) teams_app_id="${2:-}"; shift 2 ;;
    --domain) domain="${2:-}"; shift 2 ;;
    --version) version="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    --website-url) website_url="${2:-}"; shift 2 ;;
    --privacy-url) privacy_url="${2:-}"; shift 2 ;;
    --terms-url) terms_url="${2:-}"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "package.sh: unknown argument $1" >&2; usage 1 ;;
  esac
done

guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
[ -n "$bot_app_id" ] || { echo "package.sh: --bot-app-id is required" >&2; exit 1; }
[[ "$bot_app_id" =~ $guid ]] || { echo "package.sh: --bot-app-id must be a GUID, got $bot_app_id" >&2; exit 1; }
teams_app_id="${teams_app_id:-$bot_app_id}"
[[ "$teams_app_id" =~ $guid ]] || { echo "package.sh: --teams-app-id must be a GUID, got $teams_app_id" >&2; exit 1; }
[ -n "$domain" ] || { echo "package.sh: --domain is required (the gateway's public host, e.g. liftgate.example.com)" >&2; exit 1; }
[[ "$domain" =~ ^[A-Za-z0-9.-]+$ ]] || { echo "package.sh: --domain is a host name only (no scheme, port or path), got $domain" >&2; exit 1; }
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "package.sh: --version must look like 1.2.3, got $version" >&2; exit 1; }
privacy_url="${privacy_url:-https://$domain/teams/privacy}"
terms_url="${terms_url:-https://$domain/teams/terms}"
website_url="${website_url:-$privacy_url}"
for pair in "privacy-url:$privacy_url" "terms-url:$terms_url" "website-url:$website_url"; do
  name="${pair%%:*}" url="${pair#*:}"
  [[ "$url" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[^[:space:]\"]*)?$ ]] \
    || { echo "package.sh: --$name must be an https URL (Teams refuses others), got $url" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
escape() { printf '%s' "$1" | sed -e 's/[\/&|]/\\&/g'; }
sed -e "s/{{BOT_APP_ID}}/$bot_app_id/g" \
    -e "s|{{WEBSITE_URL}}|$(escape "$website_url")|g" \
    -e "s|{{PRIVACY_URL}}|$(escape "$privacy_url")|g" \
    -e "s|{{TERMS_URL}}|$(escape "$terms_url")|g" \
    -e "s/{{TEAMS_APP_ID}}/$teams_app_id/g" \
    -e "s/{{DOMAIN}}/$domain/g" \
    -e "s/\"version\": \"1.0.0\"/\"version\": \"$version\"/" \
    "$here/manifest.json" > "$work/manifest.json"
if grep -q '{{' "$work/manifest.json"; then
  echo "package.sh: a placeholder was left in manifest.json" >&2
  exit 1
fi
cp "$here/color.png" "$here/outline.png" "$work/"

mkdir -p "$out"
zip_path="$out/liftgate-teams.zip"
rm -f "$zip_path"
# The three files sit at the root of the zip, as Teams requires.
if command -v zip >/dev/null 2>&1; then
  (cd "$work" && zip -q -X "$zip_path" manifest.json color.png outline.png)
else
  python3 - "$work" "$zip_path" <<'PY'
import sys, zipfile, pathlib
work, target = pathlib.Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
    for name in ("manifest.json", "color.png", "outline.png"):
        archive.write(work / name, name)
PY
fi
echo "$zip_path"
