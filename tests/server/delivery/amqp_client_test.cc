#include "server/delivery/amqp_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/rabbitmq_server.h"

namespace hookvault::server {
namespace {

using namespace std::chrono_literals;
using testing::AmqpTestPeer;
using testing::RabbitMqServer;

std::string UniqueName(const std::string& prefix) {
  static std::mt19937_64 rng(std::random_device{}());
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(rng() % 1000000000);
}

OutboundRequest Publish(const std::string& url, const std::string& exchange,
                        const std::string& routing_key, const std::string& id,
                        int64_t timeout_ms = 5000) {
  OutboundRequest r;
  r.url = url;
  r.amqp_exchange = exchange;
  r.amqp_routing_key = routing_key;
  r.message_id = id;
  r.timeout_ms = timeout_ms;
  r.headers = {{"Content-Type", "application/json"},
               {"User-Agent", "hookvault/test"},
               {"webhook-id", id},
               {"webhook-timestamp", "1700000000"},
               {"X-Hookvault-Attempt", "1"}};
  r.body = R"({"id":")" + id + R"("})";
  return r;
}

// Posts `request` and waits for its answer, checking that `done` runs exactly once.
OutboundResponse Send(AmqpClient& client, OutboundRequest request) {
  auto promise = std::make_shared<std::promise<OutboundResponse>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  client.Post(std::move(request), [promise, calls](OutboundResponse r) {
    if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
  });
  auto future = promise->get_future();
  if (future.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "no answer within 30 s";
    return {};
  }
  OutboundResponse r = future.get();
  std::this_thread::sleep_for(10ms);
  EXPECT_EQ(calls->load(), 1);
  return r;
}

// A TCP relay between the client and the broker that the test can freeze (the broker's bytes
// are held back, so confirms never arrive) and cut (every connection closed at once).
// Thread-safety: Freeze() and Cut() may be called from any thread (atomics); the connections
// belong to the relay's thread.
class Relay {
 public:
  explicit Relay(int upstream_port) : upstream_port_(upstream_port) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listener_, 16);
    socklen_t len = sizeof a;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~Relay() {
    stop_ = true;
    thread_.join();
    close(listener_);
    for (auto& [a, b] : pairs_) {
      close(a);
      close(b);
    }
  }
  int port() const { return port_; }
  void Freeze(bool frozen) { frozen_ = frozen; }
  // Stops reading in both directions: the client's writes fill the socket buffers and block,
  // as with a broker under a resource alarm or a stalled proxy.
  void Stall(bool stalled) { stalled_ = stalled; }
  void Cut() { cut_ = true; }

 private:
  void Run() {
    char buf[65536];
    while (!stop_) {
      if (cut_.exchange(false)) {
        for (auto& [a, b] : pairs_) {
          close(a);
          close(b);
        }
        pairs_.clear();
      }
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (auto& [client, broker] : pairs_) {
        fds.push_back({client, static_cast<short>(stalled_ ? 0 : POLLIN), 0});
        fds.push_back({broker, static_cast<short>(frozen_ || stalled_ ? 0 : POLLIN), 0});
      }
      poll(fds.data(), fds.size(), 20);
      if (fds[0].revents & POLLIN) {
        int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        int broker = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(upstream_port_));
        if (connect(broker, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
          pairs_.emplace_back(client, broker);
        } else {
          close(client);
          close(broker);
        }
        continue;
      }
      for (size_t i = 0; i < pairs_.size(); ++i) {
        auto [client, broker] = pairs_[i];
        for (auto [from, to, ev] : {std::tuple{client, broker, fds[1 + 2 * i].revents},
                                    std::tuple{broker, client, fds[2 + 2 * i].revents}}) {
          if (!(ev & (POLLIN | POLLHUP | POLLERR))) continue;
          ssize_t n = read(from, buf, sizeof buf);
          if (n > 0) {
            (void)!write(to, buf, static_cast<size_t>(n));
          } else {
            shutdown(to, SHUT_RDWR);
          }
        }
      }
    }
  }

  const int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, frozen_{false}, stalled_{false}, cut_{false};
  std::vector<std::pair<int, int>> pairs_;  // the relay thread's only
  std::thread thread_;
};

class AmqpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = RabbitMqServer::Shared();
    ASSERT_NE(server_, nullptr);
    peer_ = std::make_unique<AmqpTestPeer>(server_->url());
    ASSERT_TRUE(peer_->ok());
    queue_ = UniqueName("hv-amqp-client");
  }
  void TearDown() override {
    if (peer_ && peer_->ok()) peer_->DeleteQueue(queue_);
  }

  RabbitMqServer* server_ = nullptr;
  std::unique_ptr<AmqpTestPeer> peer_;
  std::string queue_;
};

TEST_F(AmqpClientTest, AckIsSuccessAndTheMessageCarriesItsIdPropertiesAndHeaders) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  AmqpClient client;
  OutboundResponse r = Send(client, Publish(server_->url(), "", queue_, "evt_1"));
  EXPECT_TRUE(r.acknowledged) << r.error;
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.body_excerpt, "basic.ack");
  auto m = peer_->Get(queue_);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->body, R"({"id":"evt_1"})");
  EXPECT_EQ(m->message_id, "evt_1");
  EXPECT_EQ(m->content_type, "application/json");
  EXPECT_EQ(m->delivery_mode, 2);  // persistent
  EXPECT_EQ(m->timestamp, 1700000000u);
  EXPECT_EQ(m->app_id, "hookvault/test");
  EXPECT_EQ(m->headers["webhook-id"], "evt_1");
  EXPECT_EQ(m->headers["webhook-timestamp"], "1700000000");
  EXPECT_EQ(m->headers["x-hookvault-attempt"], "1");
  EXPECT_EQ(m->headers.count("content-type"), 0u);
}

TEST_F(AmqpClientTest, UnroutableMandatoryPublishIsReturnedAndFails) {
  AmqpClient client;  // no queue named queue_: the default exchange cannot route it
  OutboundResponse r = Send(client, Publish(server_->url(), "", queue_, "evt_unroutable"));
  EXPECT_FALSE(r.acknowledged);
  EXPECT_EQ(r.error.rfind("basic.return 312 NO_ROUTE", 0), 0u) << r.error;
  // The connection stays usable: once the queue exists the same publish is acked.
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  r = Send(client, Publish(server_->url(), "", queue_, "evt_unroutable"));
  EXPECT_TRUE(r.acknowledged) << r.error;
}

TEST_F(AmqpClientTest, FullQueueWithRejectPublishIsNacked) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_, /*reject_beyond=*/1));
  AmqpClient client;
  OutboundResponse first = Send(client, Publish(server_->url(), "", queue_, "evt_a"));
  EXPECT_TRUE(first.acknowledged) << first.error;
  OutboundResponse second = Send(client, Publish(server_->url(), "", queue_, "evt_b"));
  EXPECT_FALSE(second.acknowledged);
  EXPECT_EQ(second.error.rfind("basic.nack", 0), 0u) << second.error;
}

TEST_F(AmqpClientTest, ManyPublishesInFlightAreAllConfirmed) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  AmqpClient client;
  constexpr int kCount = 300;
  std::mutex mu;
  std::vector<OutboundResponse> answers;
  std::promise<void> all;
  for (int i = 0; i < kCount; ++i) {
    client.Post(Publish(server_->url(), "", queue_, "evt_" + std::to_string(i)),
                [&](OutboundResponse r) {
                  std::lock_guard<std::mutex> lock(mu);
                  answers.push_back(std::move(r));
                  if (answers.size() == kCount) all.set_value();
                });
  }
  ASSERT_EQ(all.get_future().wait_for(30s), std::future_status::ready);
  for (const OutboundResponse& r : answers) EXPECT_TRUE(r.acknowledged) << r.error;
  std::set<std::string> ids;
  while (auto m = peer_->Get(queue_, 200)) ids.insert(m->message_id);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kCount));
}

TEST_F(AmqpClientTest, MissingExchangeClosesTheChannelAndTheNextPublishReconnects) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  AmqpClient client(AmqpClientOptions{.reconnect_backoff_ms = 20});
  OutboundResponse r = Send(client, Publish(server_->url(), "hv-no-such-exchange", "k", "evt_x"));
  EXPECT_FALSE(r.acknowledged);
  EXPECT_EQ(r.error.rfind("channel closed: 404 NOT_FOUND", 0), 0u) << r.error;
  std::this_thread::sleep_for(50ms);
  r = Send(client, Publish(server_->url(), "", queue_, "evt_y"));
  EXPECT_TRUE(r.acknowledged) << r.error;
}

// Answers of many posts, gathered; Wait() returns them once `count` have come.
class Answers {
 public:
  std::function<void(OutboundResponse)> Slot(size_t i) {
    return [this, i](OutboundResponse r) {
      std::lock_guard<std::mutex> lock(mu_);
      by_index_[i] = std::move(r);
      cv_.notify_all();
    };
  }
  bool Wait(size_t count, std::chrono::milliseconds within) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, within, [&] { return by_index_.size() >= count; });
  }
  OutboundResponse Get(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return by_index_[i];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<size_t, OutboundResponse> by_index_;
};

TEST_F(AmqpClientTest, MissingExchangeOfOneDestinationFailsOnlyItsOwnPublishes) {
  // One URL, two destinations: a channel error of one must not touch the other's publishes.
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  AmqpClient client(AmqpClientOptions{.reconnect_backoff_ms = 2000});
  ASSERT_TRUE(Send(client, Publish(server_->url(), "", queue_, "evt_warm")).acknowledged);
  Answers answers;
  constexpr size_t kHealthy = 50;
  for (size_t i = 0; i < kHealthy; ++i) {
    OutboundRequest r = Publish(server_->url(), "", queue_, "evt_" + std::to_string(i));
    r.body.assign(20000, 'x');
    client.Post(std::move(r), answers.Slot(i));
    if (i == 10) {
      client.Post(Publish(server_->url(), "hv-no-such-exchange", "k", "evt_bad"),
                  answers.Slot(kHealthy));
    }
  }
  ASSERT_TRUE(answers.Wait(kHealthy + 1, 30s));
  for (size_t i = 0; i < kHealthy; ++i) {
    EXPECT_TRUE(answers.Get(i).acknowledged) << i << ": " << answers.Get(i).error;
  }
  EXPECT_EQ(answers.Get(kHealthy).error.rfind("channel closed: 404 NOT_FOUND", 0), 0u)
      << answers.Get(kHealthy).error;
  // The connection stayed up: the next publishes of both are answered at once, not with
  // "connection down"; the bad one's channel is opened again and closed again.
  EXPECT_TRUE(Send(client, Publish(server_->url(), "", queue_, "evt_next")).acknowledged);
  OutboundResponse bad =
      Send(client, Publish(server_->url(), "hv-no-such-exchange", "k", "evt_b2"));
  EXPECT_EQ(bad.error.rfind("channel closed: 404 NOT_FOUND", 0), 0u) << bad.error;
  EXPECT_TRUE(Send(client, Publish(server_->url(), "", queue_, "evt_last")).acknowledged);
}

TEST_F(AmqpClientTest, ReturnsAreMatchedToTheirOwnPublishInAPipeline) {
  // Alternately routable (queue_) and unroutable (a queue that does not exist), all through the
  // default exchange on one channel... and ids shared across both kinds.
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  AmqpClient client;
  Answers answers;
  constexpr size_t kCount = 100;
  const std::string nowhere = UniqueName("hv-nowhere");
  for (size_t i = 0; i < kCount; ++i) {
    const bool routable = i % 2 == 0;
    // Pairs (i, i+1) share an id: a routable and an unroutable message of the same event.
    client.Post(
        Publish(server_->url(), "", routable ? queue_ : nowhere, "evt_" + std::to_string(i / 2)),
        answers.Slot(i));
  }
  ASSERT_TRUE(answers.Wait(kCount, 30s));
  for (size_t i = 0; i < kCount; ++i) {
    OutboundResponse r = answers.Get(i);
    if (i % 2 == 0) {
      EXPECT_TRUE(r.acknowledged) << i << ": " << r.error;
    } else {
      EXPECT_FALSE(r.acknowledged) << i;
      EXPECT_EQ(r.error.rfind("basic.return 312 NO_ROUTE", 0), 0u) << i << ": " << r.error;
    }
  }
}

TEST_F(AmqpClientTest, StaleReturnOfATimedOutPublishDoesNotFailALaterAckedRetry) {
  const std::string later = UniqueName("hv-later");  // no queue yet: unroutable
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  Relay relay(server_->port());
  const std::string url = "amqp://guest:guest@127.0.0.1:" + std::to_string(relay.port());
  AmqpClient client;
  ASSERT_TRUE(Send(client, Publish(url, "", queue_, "evt_warm")).acknowledged);
  // Both destinations' channels open before the freeze (this one is returned: no queue yet).
  ASSERT_EQ(Send(client, Publish(url, "", later, "evt_warm")).error.rfind("basic.return", 0), 0u);
  relay.Freeze(true);  // the broker's answers (the return, the acks) are held back
  Answers answers;
  client.Post(Publish(url, "", later, "evt_x", /*timeout_ms=*/300), answers.Slot(0));
  client.Post(Publish(url, "", queue_, "evt_b", /*timeout_ms=*/20000), answers.Slot(1));
  std::this_thread::sleep_for(600ms);  // evt_x's attempt times out
  ASSERT_TRUE(peer_->DeclareQueue(later));
  // The retry of the same event, now routable, published before the old return arrives.
  client.Post(Publish(url, "", later, "evt_x", /*timeout_ms=*/20000), answers.Slot(2));
  std::this_thread::sleep_for(200ms);
  relay.Freeze(false);
  ASSERT_TRUE(answers.Wait(3, 20s));
  EXPECT_EQ(answers.Get(0).error.rfind("timeout waiting for publisher confirm", 0), 0u)
      << answers.Get(0).error;
  EXPECT_TRUE(answers.Get(1).acknowledged) << answers.Get(1).error;
  EXPECT_TRUE(answers.Get(2).acknowledged) << answers.Get(2).error;
  peer_->DeleteQueue(later);
}

TEST_F(AmqpClientTest, BrokerThatStopsReadingFailsPublishesInTimeAndHoldsUpNoOtherUrl) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  Relay relay(server_->port());
  const std::string stalled_url = "amqp://guest:guest@127.0.0.1:" + std::to_string(relay.port());
  auto client = std::make_unique<AmqpClient>(AmqpClientOptions{.reconnect_backoff_ms = 2000});
  ASSERT_TRUE(Send(*client, Publish(stalled_url, "", queue_, "evt_warm")).acknowledged);
  relay.Stall(true);
  Answers answers;
  constexpr size_t kCount = 40;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kCount; ++i) {
    OutboundRequest r = Publish(stalled_url, "", queue_, "evt_" + std::to_string(i), 500);
    r.body.assign(1 << 20, 'x');  // 40 MiB in all: far more than the sockets buffer
    client->Post(std::move(r), answers.Slot(i));
  }
  // Another URL (the broker itself) is served meanwhile.
  OutboundResponse other = Send(*client, Publish(server_->url(), "", queue_, "evt_other", 5000));
  EXPECT_TRUE(other.acknowledged) << other.error;
  ASSERT_TRUE(answers.Wait(kCount, 10s)) << "publishes to a broker that stopped reading hang";
  size_t not_reading = 0;
  for (size_t i = 0; i < kCount; ++i) {
    OutboundResponse r = answers.Get(i);
    EXPECT_FALSE(r.acknowledged) << i;
    if (r.error.find("broker not reading: send timed out") != std::string::npos) ++not_reading;
  }
  EXPECT_GT(not_reading, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  // The destructor returns although a connection is dead in the water.
  const auto stop = std::chrono::steady_clock::now();
  client.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 3s);
}

TEST_F(AmqpClientTest, SilentBrokerHoldsUpNoOtherUrlNorTheDestructor) {
  // A listener that accepts and never answers: the AMQP handshake waits.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string silent = "amqp://guest:guest@127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  auto client = std::make_unique<AmqpClient>();
  Answers answers;
  client->Post(Publish(silent, "", queue_, "evt_silent", 8000), answers.Slot(0));
  std::this_thread::sleep_for(100ms);
  const auto posted = std::chrono::steady_clock::now();
  OutboundResponse other = Send(*client, Publish(server_->url(), "", queue_, "evt_other", 8000));
  EXPECT_TRUE(other.acknowledged) << other.error;
  EXPECT_LT(std::chrono::steady_clock::now() - posted, 2s);
  const auto stop = std::chrono::steady_clock::now();
  client.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 3s);
  ASSERT_TRUE(answers.Wait(1, 1s));
  EXPECT_FALSE(answers.Get(0).acknowledged);
  close(listener);
}

TEST_F(AmqpClientTest, ConfirmThatNeverComesTimesOut) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  Relay relay(server_->port());
  const std::string url = "amqp://guest:guest@127.0.0.1:" + std::to_string(relay.port());
  AmqpClient client;
  OutboundResponse r = Send(client, Publish(url, "", queue_, "evt_1"));  // connects
  ASSERT_TRUE(r.acknowledged) << r.error;
  relay.Freeze(true);
  r = Send(client, Publish(url, "", queue_, "evt_2", /*timeout_ms=*/300));
  EXPECT_FALSE(r.acknowledged);
  EXPECT_EQ(r.error.rfind("timeout waiting for publisher confirm", 0), 0u) << r.error;
  EXPECT_GE(r.duration_us, 300'000);
}

TEST_F(AmqpClientTest, LostConnectionFailsWhatAwaitsItsConfirmThenReconnects) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  Relay relay(server_->port());
  const std::string url = "amqp://guest:guest@127.0.0.1:" + std::to_string(relay.port());
  // A backoff far longer than any scheduling delay of a loaded (or TSan) run: the publish
  // right after the loss is certain to fall within it.
  AmqpClient client(
      AmqpClientOptions{.reconnect_backoff_ms = 1500, .max_reconnect_backoff_ms = 1500});
  ASSERT_TRUE(Send(client, Publish(url, "", queue_, "evt_1")).acknowledged);
  relay.Freeze(true);
  auto promise = std::make_shared<std::promise<OutboundResponse>>();
  client.Post(Publish(url, "", queue_, "evt_2", 10000),
              [promise](OutboundResponse r) { promise->set_value(std::move(r)); });
  std::this_thread::sleep_for(100ms);
  relay.Cut();
  auto future = promise->get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  OutboundResponse r = future.get();
  EXPECT_FALSE(r.acknowledged);
  EXPECT_EQ(r.error.rfind("connection lost", 0), 0u) << r.error;
  relay.Freeze(false);
  // Within the backoff a publish fails at once, naming why; after it, it reconnects.
  r = Send(client, Publish(url, "", queue_, "evt_3"));
  EXPECT_EQ(r.error.rfind("connection down: connection lost", 0), 0u) << r.error;
  bool acked = false;
  for (int i = 0; i < 50 && !acked; ++i) {
    std::this_thread::sleep_for(100ms);
    r = Send(client, Publish(url, "", queue_, "evt_4"));
    acked = r.acknowledged;
  }
  EXPECT_TRUE(acked) << r.error;
}

TEST_F(AmqpClientTest, DestructorCancelsWhatAwaitsItsConfirm) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  Relay relay(server_->port());
  const std::string url = "amqp://guest:guest@127.0.0.1:" + std::to_string(relay.port());
  auto client = std::make_unique<AmqpClient>();
  ASSERT_TRUE(Send(*client, Publish(url, "", queue_, "evt_1")).acknowledged);
  relay.Freeze(true);
  std::atomic<int> calls{0};
  OutboundResponse last;
  client->Post(Publish(url, "", queue_, "evt_2", 30000), [&](OutboundResponse r) {
    last = std::move(r);
    ++calls;
  });
  std::this_thread::sleep_for(100ms);
  relay.Cut();  // so that the closing handshake does not wait for the frozen broker
  client.reset();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(last.cancelled);
  EXPECT_FALSE(last.acknowledged);
}

TEST_F(AmqpClientTest, UnreachableBrokerFailsAtOnceWithoutBlocking) {
  // A port nobody listens on: refused at once, and within the backoff no new connect is tried.
  const std::string url = "amqp://guest:guest@127.0.0.1:1";
  AmqpClient client(AmqpClientOptions{.reconnect_backoff_ms = 60000});
  OutboundResponse r = Send(client, Publish(url, "", queue_, "evt_1"));
  EXPECT_FALSE(r.acknowledged);
  EXPECT_EQ(r.error.rfind("cannot connect to 127.0.0.1:1", 0), 0u) << r.error;
  r = Send(client, Publish(url, "", queue_, "evt_2"));
  EXPECT_EQ(r.error.rfind("connection down: cannot connect", 0), 0u) << r.error;
}

TEST_F(AmqpClientTest, AmqpsVerifiesTheBrokersCertificate) {
  ASSERT_TRUE(peer_->DeclareQueue(queue_));
  const std::string url = server_->amqps_url();
  {
    // The broker's certificate is self-signed: no system CA vouches for it.
    AmqpClient client;
    OutboundResponse r = Send(client, Publish(url, "", queue_, "evt_untrusted"));
    EXPECT_FALSE(r.acknowledged);
    EXPECT_EQ(r.error.rfind("cannot connect to localhost:", 0), 0u) << r.error;
  }
  // OpenSSL's default verify paths honour SSL_CERT_FILE: trusting that certificate, the same
  // URL connects, with the host name checked against it.
  ASSERT_EQ(setenv("SSL_CERT_FILE", server_->tls_cert_file().c_str(), 1), 0);
  OutboundResponse r;
  OutboundResponse wrong_name;
  {
    AmqpClient client;
    r = Send(client, Publish(url, "", queue_, "evt_trusted"));
    // The same trusted certificate names only localhost: by its IP address the host name check
    // refuses it.
    std::string by_ip = url;
    by_ip.replace(by_ip.find("@localhost:"), 11, "@127.0.0.1:");
    wrong_name = Send(client, Publish(by_ip, "", queue_, "evt_wrong_name"));
  }
  unsetenv("SSL_CERT_FILE");
  EXPECT_FALSE(wrong_name.acknowledged);
  EXPECT_EQ(wrong_name.error.rfind("cannot connect to 127.0.0.1:", 0), 0u) << wrong_name.error;
  EXPECT_TRUE(r.acknowledged) << r.error;
  auto m = peer_->Get(queue_);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->message_id, "evt_trusted");
}

// Its own broker: a memory alarm (watermark 0) blocks publishers; the client advertises
// connection.blocked, so it is told, and fails publishes at once until the alarm is cleared.
TEST(AmqpClientAlarmTest, BlockedBrokerFailsPublishesAtOnceThenAcksWhenUnblocked) {
  std::unique_ptr<RabbitMqServer> server = RabbitMqServer::StartOwn();
  ASSERT_NE(server, nullptr);
  const std::string queue = UniqueName("hv-alarm");
  {
    AmqpTestPeer peer(server->url());
    ASSERT_TRUE(peer.DeclareQueue(queue));
  }
  AmqpClient client;
  ASSERT_TRUE(Send(client, Publish(server->url(), "", queue, "evt_before")).acknowledged);
  ASSERT_TRUE(server->Ctl({"set_vm_memory_high_watermark", "0"}));
  // The publish that meets the alarm waits for a confirm that does not come; the broker has
  // said connection.blocked by then, and the next ones fail without being written.
  std::string blocked_error;
  for (int i = 0; i < 40 && blocked_error.empty(); ++i) {
    OutboundResponse r = Send(client, Publish(server->url(), "", queue, "evt_during", 500));
    EXPECT_FALSE(r.acknowledged);
    if (r.error.rfind("broker blocked: ", 0) == 0) {
      blocked_error = r.error;
      EXPECT_LT(r.duration_us, 400'000);  // at once, not after the timeout
    }
  }
  EXPECT_NE(blocked_error.find("memory"), std::string::npos) << blocked_error;
  ASSERT_TRUE(server->Ctl({"set_vm_memory_high_watermark", "0.8"}));
  bool acked = false;
  std::string last_error;
  for (int i = 0; i < 100 && !acked; ++i) {
    OutboundResponse r = Send(client, Publish(server->url(), "", queue, "evt_after", 2000));
    acked = r.acknowledged;
    last_error = r.error;
    if (!acked) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(acked) << last_error;
}

// Its own broker: stopped and started again on the same port and data.
TEST(AmqpClientRestartTest, BrokerDownFailsThenPublishesRecoverAfterItsRestart) {
  std::unique_ptr<RabbitMqServer> server = RabbitMqServer::StartOwn();
  ASSERT_NE(server, nullptr);
  const std::string queue = UniqueName("hv-restart");
  {
    AmqpTestPeer peer(server->url());
    ASSERT_TRUE(peer.DeclareQueue(queue));
  }
  AmqpClient client(AmqpClientOptions{.reconnect_backoff_ms = 50, .max_reconnect_backoff_ms = 200});
  ASSERT_TRUE(Send(client, Publish(server->url(), "", queue, "evt_before")).acknowledged);
  ASSERT_TRUE(server->Stop());
  OutboundResponse r = Send(client, Publish(server->url(), "", queue, "evt_down"));
  EXPECT_FALSE(r.acknowledged);
  EXPECT_FALSE(r.error.empty());
  ASSERT_TRUE(server->Restart());
  bool acked = false;
  std::string last_error;
  for (int i = 0; i < 100 && !acked; ++i) {
    r = Send(client, Publish(server->url(), "", queue, "evt_after"));
    acked = r.acknowledged;
    last_error = r.error;
    if (!acked) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(acked) << last_error;
  AmqpTestPeer peer(server->url());
  std::set<std::string> ids;
  while (auto m = peer.Get(queue, 500)) ids.insert(m->message_id);
  // Persistent messages on a durable queue survive the restart.
  EXPECT_TRUE(ids.count("evt_before"));
  EXPECT_TRUE(ids.count("evt_after"));
}

}  // namespace
}  // namespace hookvault::server
