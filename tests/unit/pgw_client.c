/*
** A blocking PostgreSQL-protocol client for the pgwire unit tests
** (test_pgwire_server.c, test_pgwire_ext.c): connect, log in, read and
** send raw messages. Runs on the tests' client threads.
*/
#include "pgw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int cli_connect(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

static int recv_all(int s, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(s, (char *)buf + got, n - got, 0);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

/* Read one message; body is malloc'd (caller frees). -1 on EOF/error. */
int cli_read(int s, char *type, char **body, uint32_t *len) {
  uint8_t h[5];
  if (recv_all(s, h, 5) != 0) return -1;
  *type = (char)h[0];
  *len = ((uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4]) - 4;
  *body = malloc(*len + 1);
  if (recv_all(s, *body, *len) != 0) {
    free(*body);
    return -1;
  }
  (*body)[*len] = '\0';
  return 0;
}

void cli_send(int s, const void *p, size_t n) {
  ssize_t w = send(s, p, n, MSG_NOSIGNAL);
  (void)w;
}

int cli_login(int port) {
  int s = cli_connect(port);
  if (s < 0) return -1;
  static const char body[] = "user\0t\0database\0d\0";
  uint8_t pkt[64];
  uint32_t len = 8 + sizeof body;
  uint8_t hdr[8] = {0, 0, 0, (uint8_t)len, 0, 3, 0, 0};
  memcpy(pkt, hdr, 8);
  memcpy(pkt + 8, body, sizeof body);
  cli_send(s, pkt, len);
  for (;;) {
    char t;
    char *b;
    uint32_t n;
    if (cli_read(s, &t, &b, &n) != 0) {
      close(s);
      return -1;
    }
    free(b);
    if (t == 'E') {
      close(s);
      return -2;
    }
    if (t == 'Z') return s;
  }
}
