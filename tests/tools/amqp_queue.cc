// hookvault_amqp_queue: the broker side of `scripts/bench amqp`, with rabbitmq-c.
//
//   hookvault_amqp_queue URL declare QUEUE   declares a durable queue (the bench's destination
//                                            publishes to it through the default exchange)
//   hookvault_amqp_queue URL count QUEUE     prints the number of messages ready in it
//
// Exits 1 with the reason on stderr when the broker cannot be reached or refuses.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

int Fail(const char* what) {
  std::fprintf(stderr, "hookvault_amqp_queue: %s failed\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || (std::strcmp(argv[2], "declare") != 0 && std::strcmp(argv[2], "count") != 0)) {
    std::fprintf(stderr, "usage: hookvault_amqp_queue URL declare|count QUEUE\n");
    return 2;
  }
  std::string url = argv[1];
  amqp_connection_info info;
  amqp_default_connection_info(&info);
  if (amqp_parse_url(url.data(), &info) != AMQP_STATUS_OK) return Fail("parsing the URL");
  amqp_connection_state_t conn = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  timeval tv{10, 0};
  if (socket == nullptr || amqp_socket_open_noblock(socket, info.host, info.port, &tv) != 0) {
    return Fail("connecting");
  }
  const char* vhost = info.vhost && *info.vhost ? info.vhost : "/";
  if (amqp_login(conn, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password)
          .reply_type != AMQP_RESPONSE_NORMAL) {
    return Fail("login");
  }
  amqp_channel_open(conn, 1);
  if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL) return Fail("channel.open");
  const bool count = std::strcmp(argv[2], "count") == 0;
  amqp_queue_declare_ok_t* ok = amqp_queue_declare(conn, 1, amqp_cstring_bytes(argv[3]),
                                                   /*passive=*/count ? 1 : 0, /*durable=*/1, 0, 0,
                                                   amqp_empty_table);
  if (ok == nullptr) return Fail("queue.declare");
  if (count) std::printf("%u\n", ok->message_count);
  amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(conn);
  return 0;
}
