# Sourced after serve_random_object.sh: the S3-like link (mmapurl-shaper of build $1: 20 ms round
# trip, 50 MB/s per connection, the handshake's round trips too, splice) in front of the nginx on
# $port. Sets $shaper_port and $shaper_pid; exits if the shaper did not start.
"$1/tools/mmapurl-shaper" --listen 127.0.0.1:0 --target "127.0.0.1:$port" --rtt-ms 20 \
  --conn-mbps 50 --handshake-rtt --splice >"$work/shaper.out" 2>"$work/shaper.err" &
shaper_pid=$!
sleep 0.5
shaper_port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/shaper.out")
[[ -n $shaper_port ]] || { echo "mmapurl-shaper did not start: $(cat "$work/shaper.err")" >&2; exit 1; }
