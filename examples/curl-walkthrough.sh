#!/bin/sh
# The OpenAI Batch flow with curl alone: upload, create, poll, download. Needs only curl and sed.
# Run: sh examples/curl-walkthrough.sh   (SPOOL_URL defaults to http://127.0.0.1:8080)
set -eu
URL="${SPOOL_URL:-http://127.0.0.1:8080}"
AUTH="Authorization: Bearer ${SPOOL_API_KEY:-unused}"
field() { grep -o "\"$1\":\"[^\"]*\"" | head -n 1 | cut -d '"' -f 4; }   # a JSON string field, without jq

REQUESTS=$(mktemp)
trap 'rm -f "$REQUESTS"' EXIT
printf '%s\n' \
  '{"custom_id":"req-1","method":"POST","url":"/v1/chat/completions","body":{"model":"spool-demo","messages":[{"role":"user","content":"Say hello"}],"max_tokens":16}}' \
  '{"custom_id":"req-2","method":"POST","url":"/v1/chat/completions","body":{"model":"spool-demo","messages":[{"role":"user","content":"Name a colour"}],"max_tokens":16}}' \
  > "$REQUESTS"

FILE_ID=$(curl -sS -H "$AUTH" "$URL/v1/files" -F purpose=batch -F "file=@$REQUESTS;filename=requests.jsonl" | field id)
echo "file $FILE_ID"
BATCH_ID=$(curl -sS -H "$AUTH" "$URL/v1/batches" -H "Content-Type: application/json" \
  -d "{\"input_file_id\":\"$FILE_ID\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}" | field id)
echo "batch $BATCH_ID"
while :; do
  BATCH=$(curl -sS -H "$AUTH" "$URL/v1/batches/$BATCH_ID")
  STATUS=$(echo "$BATCH" | field status)
  echo "status $STATUS"
  case "$STATUS" in completed|failed|expired|cancelled) break ;; esac
  sleep 1
done
OUTPUT_FILE_ID=$(echo "$BATCH" | field output_file_id)
curl -sS -H "$AUTH" "$URL/v1/files/$OUTPUT_FILE_ID/content"
