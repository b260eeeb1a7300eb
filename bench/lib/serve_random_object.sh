# Sourced by the engine and shaper benchmarks: SIZE_MB of random bytes at $work/www/obj, served by
# one nginx worker over HTTPS on a free loopback port ($port) with a fresh self-signed certificate
# ($work/cert.pem, exported as SSL_CERT_FILE), its pid in $nginx_pid; no proxy variables. Needs
# $work and $size_mb.
# ssl_protocols: Debian 12's nginx 1.22 offers at most TLS 1.2 unless told; nginx 1.23.4 and later
# offer TLS 1.3 by default, as do S3 and most servers. curl and mmapurl alike get TLS 1.3.
mkdir -p "$work/www" "$work/logs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
head -c $((size_mb << 20)) /dev/urandom > "$work/www/obj"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/nginx.conf" <<CONF
worker_processes 1; daemon off; master_process off; error_log $work/logs/error.log; pid $work/logs/pid;
events { worker_connections 1024; }
http { access_log off; sendfile on; keepalive_requests 1000000;
  client_body_temp_path $work/logs; proxy_temp_path $work/logs; fastcgi_temp_path $work/logs;
  uwsgi_temp_path $work/logs; scgi_temp_path $work/logs;
  server { listen 127.0.0.1:$port ssl; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.2 TLSv1.3; root $work/www; } }
CONF
/usr/sbin/nginx -p "$work" -c "$work/nginx.conf" &
nginx_pid=$!  # one process (master_process off): what ROWS=placement pins
sleep 0.5
export SSL_CERT_FILE="$work/cert.pem"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
