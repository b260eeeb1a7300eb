// TlsRecordReader against a real OpenSSL server, TLS 1.3 and 1.2, in memory: the client's
// handshake runs in OpenSSL over memory BIOs, then the reader takes the server's records, as
// TlsStream does.
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "embedded_server/self_signed_cert.hpp"
#include "embedded_server/synthetic_content.hpp"
#include "fuzz/tls_record_sealer.hpp"
#include "net/tls_record_reader.hpp"

namespace mmapurl::net {
namespace {

using Status = TlsRecordReader::Status;
using Bytes = std::vector<uint8_t>;

Bytes drain(BIO* bio) {
  Bytes out;
  uint8_t buf[16384];
  int n;
  while ((n = BIO_read(bio, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  return out;
}

void feed(BIO* bio, const Bytes& bytes) {
  if (bytes.empty()) return;
  ASSERT_EQ(BIO_write(bio, bytes.data(), static_cast<int>(bytes.size())),
            static_cast<int>(bytes.size()));
}

Bytes synthetic(uint64_t seed, size_t len) {
  Bytes b(len);
  testserver::fill_synthetic(seed, 0, b.data(), len);
  return b;
}

// A suite to test: TLS 1.3 names a ciphersuite, TLS 1.2 an OpenSSL cipher list entry.
struct Suite {
  int version;
  const char* name;
};
const Suite kAes128Gcm13{TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"};
const Suite kAes256Gcm13{TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"};
const Suite kChaCha13{TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256"};
const Suite kAes128Gcm12{TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"};
const Suite kAes256Gcm12{TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384"};
const Suite kChaCha12{TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"};

// An OpenSSL server and client joined by memory BIOs. After handshake(), `wire` holds every byte
// the server sent past the client's handshake (the part OpenSSL would read next), and `reader`
// reads it.
class TlsPair {
 public:
  explicit TlsPair(Suite suite) : suite_(suite) {
    auto cert = testserver::make_self_signed_cert();
    EXPECT_TRUE(cert);
    server_ctx_ = SSL_CTX_new(TLS_server_method());
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    BIO* cb = BIO_new_mem_buf(cert->cert_pem.data(), static_cast<int>(cert->cert_pem.size()));
    BIO* kb = BIO_new_mem_buf(cert->key_pem.data(), static_cast<int>(cert->key_pem.size()));
    X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    EXPECT_EQ(SSL_CTX_use_certificate(server_ctx_, x), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(server_ctx_, k), 1);
    X509_free(x);
    EVP_PKEY_free(k);
    BIO_free(cb);
    BIO_free(kb);
    SSL_CTX_set_min_proto_version(client_ctx_, suite.version);
    SSL_CTX_set_max_proto_version(client_ctx_, suite.version);
    if (suite.version == TLS1_3_VERSION) {
      EXPECT_EQ(SSL_CTX_set_ciphersuites(client_ctx_, suite.name), 1);
    } else {
      EXPECT_EQ(SSL_CTX_set_cipher_list(client_ctx_, suite.name), 1);
    }
    SSL_CTX_set_keylog_callback(client_ctx_, [](const SSL* ssl, const char* line) {
      static constexpr char kLabel[] = "SERVER_TRAFFIC_SECRET_0 ";
      if (std::strncmp(line, kLabel, sizeof kLabel - 1) != 0) return;
      auto* self = static_cast<TlsPair*>(SSL_get_app_data(ssl));
      const char* hex = std::strchr(line + sizeof kLabel - 1, ' ') + 1;
      for (; hex[0] && hex[1]; hex += 2) {
        unsigned v = 0;
        std::sscanf(hex, "%2x", &v);
        self->secret_.push_back(static_cast<uint8_t>(v));
      }
    });
    server_ = SSL_new(server_ctx_);
    client_ = SSL_new(client_ctx_);
    SSL_set_app_data(client_, this);
    server_in_ = BIO_new(BIO_s_mem());
    server_out_ = BIO_new(BIO_s_mem());
    client_in_ = BIO_new(BIO_s_mem());
    client_out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(server_, server_in_, server_out_);
    SSL_set_bio(client_, client_in_, client_out_);
    SSL_set_accept_state(server_);
    SSL_set_connect_state(client_);
  }
  ~TlsPair() {
    SSL_free(server_);
    SSL_free(client_);
    SSL_CTX_free(server_ctx_);
    SSL_CTX_free(client_ctx_);
    ERR_clear_error();
  }

  void handshake() {
    bool client_done = false;
    bool server_done = false;
    for (int round = 0; round < 10 && !(client_done && server_done); ++round) {
      if (!client_done) client_done = SSL_do_handshake(client_) == 1;
      feed(server_in_, drain(client_out_));
      if (!server_done) server_done = SSL_do_handshake(server_) == 1;
      if (!client_done) {
        feed(client_in_, drain(server_out_));
      }
    }
    ASSERT_TRUE(client_done && server_done);
    ASSERT_EQ(SSL_version(client_), suite_.version);
    ASSERT_EQ(SSL_has_pending(client_), 0);
    wire = drain(client_in_);  // what OpenSSL left unread: records under the application keys
    append(drain(server_out_));
    const SSL_CIPHER* cipher = SSL_get_current_cipher(client_);
    ASSERT_EQ(std::string(SSL_CIPHER_get_name(cipher)), suite_.name);
    const int nid = SSL_CIPHER_get_cipher_nid(cipher);
    const EVP_MD* digest = SSL_CIPHER_get_handshake_digest(cipher);
    std::string why;
    if (suite_.version == TLS1_3_VERSION) {
      reader = TlsRecordReader::create_tls13(nid, digest, secret_, &why);
    } else {  // what TlsStream does: the session's master secret, both randoms
      uint8_t master[64];
      uint8_t client_random[32];
      uint8_t server_random[32];
      const size_t n = SSL_SESSION_get_master_key(SSL_get_session(client_), master, sizeof master);
      SSL_get_client_random(client_, client_random, sizeof client_random);
      SSL_get_server_random(client_, server_random, sizeof server_random);
      reader = TlsRecordReader::create_tls12(nid, digest, {master, n}, client_random, server_random,
                                             1, &why);
    }
    ASSERT_TRUE(reader) << why;
  }

  void append(const Bytes& b) { wire.insert(wire.end(), b.begin(), b.end()); }
  void server_writes(const Bytes& data) {
    ASSERT_EQ(SSL_write(server_, data.data(), static_cast<int>(data.size())),
              static_cast<int>(data.size()));
    append(drain(server_out_));
  }
  // The server reads what the client wrote (through OpenSSL's write side).
  Bytes server_reads() {
    feed(server_in_, drain(client_out_));
    Bytes got(65536);
    const int n = SSL_read(server_, got.data(), static_cast<int>(got.size()));
    got.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return got;
  }

  // Reads `wire` with output buffers of `out_chunk` bytes, giving the reader at most `in_chunk`
  // new input bytes at a time (what a socket receive would), until it stops producing.
  struct Outcome {
    Bytes data;
    Status last = Status::kOk;
    bool key_update_requested = false;
  };
  Outcome read_all(size_t out_chunk, size_t in_chunk) {
    Outcome o;
    size_t begin = 0;
    size_t end = 0;
    Bytes out(out_chunk);
    for (;;) {
      auto step = reader->read(wire.data() + begin, end - begin, out.data(), out.size());
      begin += step.consumed;
      o.data.insert(o.data.end(), out.begin(), out.begin() + step.produced);
      o.key_update_requested = o.key_update_requested || step.key_update_requested;
      o.last = step.status;
      if (step.status == Status::kNeedMore) {
        if (end == wire.size()) break;
        end = std::min(wire.size(), end + in_chunk);
      } else if (step.status != Status::kOk) {
        break;
      }
    }
    wire.erase(wire.begin(), wire.begin() + static_cast<ptrdiff_t>(begin));
    return o;
  }

  SSL* server_ = nullptr;
  SSL* client_ = nullptr;
  Bytes wire;
  std::unique_ptr<TlsRecordReader> reader;

 private:
  SSL_CTX* server_ctx_ = nullptr;
  SSL_CTX* client_ctx_ = nullptr;
  Suite suite_;
  BIO *server_in_, *server_out_, *client_in_, *client_out_;

 public:
  Bytes secret_;  // TLS 1.3: the server's application traffic secret
};

class EverySuite : public ::testing::TestWithParam<Suite> {};

TEST_P(EverySuite, DecryptsWhatTheServerSentWhateverTheBufferSizes) {
  // Output buffers smaller than a record, odd-sized and larger; input in pieces that split
  // records anywhere.
  const std::pair<size_t, size_t> cases[] = {
      {1, 7}, {7000, 1000}, {16384, 16389}, {300000, 4096}, {65536, 1 << 20}};
  for (auto [out_chunk, in_chunk] : cases) {
    TlsPair pair(GetParam());
    pair.handshake();
    const Bytes data = synthetic(out_chunk, 100000);
    pair.server_writes(Bytes(data.begin(), data.begin() + 1));
    pair.server_writes(Bytes(data.begin() + 1, data.end()));
    auto got = pair.read_all(out_chunk, in_chunk);
    EXPECT_EQ(got.last, Status::kNeedMore) << pair.reader->error();
    EXPECT_TRUE(got.data == data) << "out " << out_chunk << " in " << in_chunk << ": "
                                  << got.data.size() << " bytes";
    EXPECT_EQ(pair.reader->pending(), 0u);
  }
}

class EveryTls13Suite : public ::testing::TestWithParam<Suite> {};

TEST_P(EveryTls13Suite, FollowsServerKeyUpdatesAndSaysWhenItMustAnswer) {
  TlsPair pair(GetParam());
  pair.handshake();
  const Bytes first = synthetic(1, 50000);
  const Bytes second = synthetic(2, 50000);
  const Bytes third = synthetic(3, 20000);
  pair.server_writes(first);
  ASSERT_EQ(SSL_key_update(pair.server_, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  pair.server_writes(second);
  auto got = pair.read_all(8192, 5000);
  EXPECT_TRUE(got.data.size() == 100000 &&
              std::equal(first.begin(), first.end(), got.data.begin()) &&
              std::equal(second.begin(), second.end(), got.data.begin() + 50000))
      << pair.reader->error();
  EXPECT_FALSE(got.key_update_requested);

  // Asked to answer: OpenSSL's write side sends ours, and the server reads on under its new key.
  ASSERT_EQ(SSL_key_update(pair.server_, SSL_KEY_UPDATE_REQUESTED), 1);
  pair.server_writes(third);
  got = pair.read_all(8192, 5000);
  EXPECT_TRUE(got.data == third) << pair.reader->error();
  EXPECT_TRUE(got.key_update_requested);
  ASSERT_EQ(SSL_key_update(pair.client_, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
  const std::string ping = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(SSL_write(pair.client_, ping.data(), static_cast<int>(ping.size())),
            static_cast<int>(ping.size()));
  const Bytes heard = pair.server_reads();
  EXPECT_EQ(std::string(heard.begin(), heard.end()), ping);
  // The server answered by writing again; its records still decrypt.
  pair.server_writes(first);
  got = pair.read_all(100000, 100000);
  EXPECT_TRUE(got.data == first) << pair.reader->error();
}

TEST_P(EverySuite, CloseNotifyEndsTheStreamAfterEveryByte) {
  TlsPair pair(GetParam());
  pair.handshake();
  const Bytes data = synthetic(4, 30000);
  pair.server_writes(data);
  ASSERT_GE(SSL_shutdown(pair.server_), 0);
  pair.append(drain(SSL_get_wbio(pair.server_)));
  auto got = pair.read_all(4096, 100000);
  EXPECT_EQ(got.last, Status::kClosed);
  EXPECT_TRUE(got.data == data);
  // Sticky: nothing more comes out.
  uint8_t out[16];
  EXPECT_EQ(pair.reader->read(nullptr, 0, out, sizeof out).status, Status::kClosed);
}

// TLS 1.2: the server asks to renegotiate (a HelloRequest), which the reader refuses.
TEST(TlsRecordReader, Tls12RenegotiationIsAnError) {
  TlsPair pair(kAes128Gcm12);
  pair.handshake();
  const Bytes data = synthetic(7, 5000);
  pair.server_writes(data);
  ASSERT_EQ(SSL_renegotiate(pair.server_), 1);
  SSL_do_handshake(pair.server_);  // writes the HelloRequest, then waits for a ClientHello
  pair.append(drain(SSL_get_wbio(pair.server_)));
  auto got = pair.read_all(65536, 65536);
  EXPECT_TRUE(got.data == data);
  EXPECT_EQ(got.last, Status::kError);
  EXPECT_EQ(pair.reader->error_reason(), SSL_R_NO_RENEGOTIATION) << pair.reader->error();
}

// gtest prints a suite (and ctest names its tests) by its name.
void PrintTo(const Suite& suite, std::ostream* os) { *os << suite.name; }

std::string suite_name(const ::testing::TestParamInfo<Suite>& info) {
  std::string name =
      std::string(info.param.version == TLS1_3_VERSION ? "Tls13_" : "Tls12_") + info.param.name;
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Tls, EverySuite,
                         ::testing::Values(kAes128Gcm13, kAes256Gcm13, kChaCha13, kAes128Gcm12,
                                           kAes256Gcm12, kChaCha12),
                         suite_name);
INSTANTIATE_TEST_SUITE_P(Tls, EveryTls13Suite,
                         ::testing::Values(kAes128Gcm13, kAes256Gcm13, kChaCha13), suite_name);

// A flipped bit anywhere in a record fails it whole: the records before it are delivered, none
// of its bytes is, and the stream stays failed.
TEST_P(EverySuite, TamperedRecordFailsWithNoByteOfIt) {
  for (size_t flip_at : {size_t{0}, size_t{3}, size_t{5}, size_t{100}, size_t{16000}}) {
    TlsPair pair(GetParam());
    pair.handshake();
    // TLS 1.3 tickets first, then two records of application data: tamper with the second
    // (its body; with TLS 1.2 GCM the first 8 bytes are its explicit nonce).
    const Bytes a = synthetic(5, 16384);
    const Bytes b = synthetic(6, 16384);
    pair.server_writes(a);
    const size_t second_record = pair.wire.size();
    pair.server_writes(b);
    pair.wire[second_record + 5 + flip_at] ^= 0x10;
    auto got = pair.read_all(1 << 20, 1 << 20);
    EXPECT_EQ(got.last, Status::kError) << "flip at " << flip_at;
    EXPECT_TRUE(got.data == a) << "flip at " << flip_at << ": " << got.data.size() << " bytes";
    EXPECT_EQ(pair.reader->error_reason(), SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC);
    uint8_t out[16];
    EXPECT_EQ(pair.reader->read(pair.wire.data(), pair.wire.size(), out, sizeof out).status,
              Status::kError);
  }
}

TEST(TlsRecordReader, MalformedRecordsAreErrors) {
  struct Case {
    Bytes wire;
    int reason;
  } cases[] = {
      {{21, 3, 3, 0, 2, 2, 40}, SSL_R_UNEXPECTED_RECORD},      // a plaintext alert
      {{20, 3, 3, 0, 1, 1}, SSL_R_UNEXPECTED_RECORD},          // change_cipher_spec, too late
      {{23, 3, 3, 0x41, 0x01}, SSL_R_PACKET_LENGTH_TOO_LONG},  // 2^14 + 257 bytes
      {{23, 3, 3, 0, 16}, SSL_R_RECORD_TOO_SMALL},             // no room for a content type
  };
  for (const auto& c : cases) {
    TlsPair pair(kAes128Gcm13);
    pair.handshake();
    pair.wire.clear();  // drop the tickets: the bad record comes first
    pair.append(c.wire);
    Bytes out(1024);
    auto step = pair.reader->read(pair.wire.data(), pair.wire.size(), out.data(), out.size());
    EXPECT_EQ(step.status, Status::kError) << int(c.wire[0]);
    EXPECT_EQ(step.produced, 0u);
    EXPECT_EQ(pair.reader->error_reason(), c.reason) << pair.reader->error();
  }
}

// --- records crafted under the server's TLS 1.3 keys: what an OpenSSL server never sends ---

struct Crafted {
  TlsRecordReader::Status status;
  Bytes data;
  int reason;
};

// A fresh TLS 1.3 session whose server then "sends" `contents` (type, bytes) as records 0, 1, ...
Crafted read_crafted(const std::vector<std::pair<uint8_t, Bytes>>& contents) {
  TlsPair pair(kAes128Gcm13);
  pair.handshake();
  pair.wire.clear();  // the real tickets go: the crafted records are numbered from 0
  for (size_t i = 0; i < contents.size(); ++i) {
    const Bytes record =
        tlsseal::seal(tlsseal::tls13_keys(NID_aes_128_gcm, EVP_sha256(), pair.secret_), i,
                      contents[i].first, contents[i].second);
    EXPECT_FALSE(record.empty());
    pair.append(record);
  }
  auto got = pair.read_all(65536, 65536);
  return {got.last, got.data, pair.reader->error_reason()};
}

constexpr uint8_t kData = 23, kHandshakeType = 22, kAlertType = 21;

TEST(TlsRecordReader, TicketSplitAcrossRecordsAndEmptyDataRecordsAreFine) {
  const Bytes ticket{4, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // NewSessionTicket, 10 bytes
  auto got = read_crafted({{kHandshakeType, Bytes(ticket.begin(), ticket.begin() + 6)},
                           {kHandshakeType, Bytes(ticket.begin() + 6, ticket.end())},
                           {kData, {}},
                           {kData, {'o', 'k'}}});
  EXPECT_EQ(got.status, TlsRecordReader::Status::kNeedMore);
  EXPECT_EQ(got.data, (Bytes{'o', 'k'}));
}

TEST(TlsRecordReader, RecordInsideASplitHandshakeMessageIsAnError) {
  auto got = read_crafted({{kHandshakeType, {4, 0, 0, 10, 1, 2}}, {kData, {'x'}}});
  EXPECT_EQ(got.status, TlsRecordReader::Status::kError);
  EXPECT_TRUE(got.data.empty());
  EXPECT_EQ(got.reason, SSL_R_UNEXPECTED_RECORD);
}

TEST(TlsRecordReader, KeyUpdateMustEndItsRecord) {
  auto got = read_crafted({{kHandshakeType, {24, 0, 0, 1, 0, 4, 0, 0, 0}}});
  EXPECT_EQ(got.status, TlsRecordReader::Status::kError);
  EXPECT_EQ(got.reason, SSL_R_NOT_ON_RECORD_BOUNDARY);
}

TEST(TlsRecordReader, Tls13AlertsAreErrorsWhateverTheirLevel) {
  for (uint8_t level : {uint8_t{1}, uint8_t{2}}) {
    auto got = read_crafted({{kData, {'a'}}, {kAlertType, {level, 40}}, {kData, {'b'}}});
    EXPECT_EQ(got.status, TlsRecordReader::Status::kError) << int(level);
    EXPECT_EQ(got.data, (Bytes{'a'}));
    EXPECT_EQ(got.reason, SSL_AD_REASON_OFFSET + 40);
  }
}

TEST(TlsRecordReader, UserCanceledThenCloseNotifyCloses) {
  auto got = read_crafted({{kData, {'a'}}, {kAlertType, {1, 90}}, {kAlertType, {1, 0}}});
  EXPECT_EQ(got.status, TlsRecordReader::Status::kClosed);
  EXPECT_EQ(got.data, (Bytes{'a'}));
}

TEST(TlsRecordReader, CiphersItLacksAreLeftToOpenSsl) {
  std::string why;
  const Bytes secret(32, 1);
  EXPECT_FALSE(TlsRecordReader::create_tls13(NID_aes_128_ccm, EVP_sha256(), secret, &why));
  EXPECT_NE(why.find("left to OpenSSL"), std::string::npos) << why;
  EXPECT_FALSE(TlsRecordReader::create_tls12(NID_aes_128_cbc, EVP_sha256(), Bytes(48, 1),
                                             Bytes(32, 2), Bytes(32, 3), 1, &why));
  EXPECT_NE(why.find("left to OpenSSL"), std::string::npos) << why;
  EXPECT_FALSE(TlsRecordReader::create_tls13(NID_aes_256_gcm, EVP_sha384(), secret, &why))
      << "SHA-384 secrets have 48 bytes";
  EXPECT_TRUE(TlsRecordReader::create_tls13(NID_aes_128_gcm, EVP_sha256(), secret, &why)) << why;
}

}  // namespace
}  // namespace mmapurl::net
