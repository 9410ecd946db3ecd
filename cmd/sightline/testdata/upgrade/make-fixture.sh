#!/usr/bin/env bash
# make-fixture.sh COMMIT [OUT]: builds Sightline at COMMIT in a temporary
# worktree, runs it on a fresh data directory, signs up, creates a site,
# sends three sessions of tracker batches (clicks, an identified user, a
# custom event), waits until search counts them, stops it cleanly and packs
# the data directory into OUT (default: datadir.tar.gz beside this script).
# upgrade_test.go opens that directory with the current binary.
#
# The test reads the constants below from fixture.env: change them together.
set -euo pipefail

commit=${1:?usage: make-fixture.sh COMMIT [OUT]}
here=$(cd "$(dirname "$0")" && pwd)
out=${2:-$here/datadir.tar.gz}
repo=$(git -C "$here" rev-parse --show-toplevel)
# shellcheck source=fixture.env
. "$here/fixture.env"

work=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	git -C "$repo" worktree remove --force "$work/src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

git -C "$repo" worktree add --detach "$work/src" "$commit" >/dev/null
# The dashboard is not needed to write data: a plain build will do.
(cd "$work/src" && go build -o "$work/sightline" ./cmd/sightline)

data=$work/data
port=${FIXTURE_PORT:-18931}
base=http://127.0.0.1:$port
"$work/sightline" serve --data-dir "$data" \
	--server.http-listen-address "127.0.0.1:$port" \
	--server.grpc-listen-address 127.0.0.1:0 --admin.listen-address 127.0.0.1:0 \
	>"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	curl -fsS "$base/api/v1/config" >/dev/null 2>&1 && break
	sleep 0.2
done

jar=$work/cookies
api() { # METHOD PATH [JSON]
	local csrf
	csrf=$(awk '$6 == "sl_csrf" {print $7}' "$jar" 2>/dev/null || true)
	curl -fsS -b "$jar" -c "$jar" -X "$1" -H 'Content-Type: application/json' \
		-H "X-CSRF-Token: $csrf" --data "${3:-{\}}" "$base$2"
}

org=$(api POST /api/v1/auth/signup "{\"email\":\"$FIXTURE_EMAIL\",\"password\":\"$FIXTURE_PASSWORD\",\"organizationName\":\"Upgrade\"}" | jq -r .organization.id)
site=$(api POST "/api/v1/organizations/$org/sites" "{\"name\":\"Shop\",\"domains\":[\"$FIXTURE_DOMAIN\"]}" | jq -r .site.siteKey)

now=$(($(date +%s) * 1000))
origin=https://$FIXTURE_DOMAIN
for i in 1 2 3; do
	session=s_upgradefixture0000000$i
	t=$((now + i * 1000))
	extra=
	if [ "$i" = 1 ]; then
		extra=",{\"type\":5,\"timestamp\":$((t + 300)),\"data\":{\"tag\":\"sl:identify\",\"payload\":{\"userId\":\"$FIXTURE_USER\",\"attributes\":{}}}}"
		extra+=",{\"type\":5,\"timestamp\":$((t + 400)),\"data\":{\"tag\":\"sl:event\",\"payload\":{\"name\":\"$FIXTURE_EVENT\",\"properties\":{}}}}"
	fi
	body="{\"v\":1,\"siteKey\":\"$site\",\"sessionId\":\"$session\",\"visitorId\":\"v_upgradefixturevisitor0$i\",\"pageViewId\":\"p_upgradefixturepageview$i\",\"seq\":0,\"clientTime\":$t,"
	body+="\"page\":{\"url\":\"$origin/cart\",\"referrer\":\"\",\"viewport\":{\"w\":1280,\"h\":720}},\"events\":["
	body+="{\"type\":4,\"timestamp\":$t,\"data\":{\"href\":\"$origin/cart\",\"width\":1280,\"height\":720}}"
	body+=",{\"type\":2,\"timestamp\":$((t + 1)),\"data\":{\"node\":{\"type\":0,\"id\":1,\"childNodes\":[]},\"initialOffset\":{\"top\":0,\"left\":0}}}"
	body+=",{\"type\":3,\"timestamp\":$((t + 200)),\"data\":{\"source\":2,\"type\":2,\"id\":1,\"x\":40,\"y\":50}}"
	body+="$extra]}"
	code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: text/plain' -H "Origin: $origin" \
		--data "$body" "$base/i/v1/batch?k=$site")
	[ "$code" = 204 ] || { echo "batch $i answered $code" >&2; cat "$work/log" >&2; exit 1; }
done

siteID=$(api GET "/api/v1/organizations/$org/sites" | jq -r '.sites[0].id')
for _ in $(seq 150); do
	total=$(api POST "/api/v1/sites/$siteID/sessions:search" '{"pageSize":1}' | jq -r '.total // "0"')
	[ "$total" = 3 ] && break
	sleep 0.2
done
[ "$total" = 3 ] || { echo "search counts $total sessions, want 3" >&2; cat "$work/log" >&2; exit 1; }

kill -TERM "$pid"
wait "$pid" || { echo "sightline did not stop cleanly" >&2; cat "$work/log" >&2; exit 1; }
pid=
tar -C "$data" --sort=name --owner=0 --group=0 --numeric-owner -czf "$out" .
echo "$out: $(du -h "$out" | cut -f1), written by $(git -C "$repo" rev-parse --short "$commit")"
