/* Address and naming helpers shared by the RPC server, client and blocking call. */
#include "common/rpc_internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int rpc_resolve(const char *host, int port, struct sockaddr_storage *out,
                socklen_t *out_len, syn_err *err) {
  if (!host || !*host) return syn_err_set(err, SYN_EINVAL, "empty host");
  if (port < 0 || port > 65535)
    return syn_err_set(err, SYN_EINVAL, "port %d out of range 0..65535", port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res)
    return syn_err_set(err, SYN_EINVAL, "cannot resolve host '%s': %s", host,
                       gai_strerror(rc));
  memset(out, 0, sizeof *out);
  memcpy(out, res->ai_addr, res->ai_addrlen);
  *out_len = res->ai_addrlen;
  freeaddrinfo(res);
  if (out->ss_family == AF_INET)
    ((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
  else if (out->ss_family == AF_INET6)
    ((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
  else
    return syn_err_set(err, SYN_EINVAL, "host '%s' is not an IP address", host);
  return 0;
}

void rpc_addr_str(const struct sockaddr *sa, char *buf, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
    snprintf(buf, cap, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
    snprintf(buf, cap, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
  } else {
    snprintf(buf, cap, "?");
  }
}

void rpc_name_copy(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < cap; i++) {
    unsigned char ch = (unsigned char)src[i];
    /* Names come from the network: never let one forge a log line. */
    dst[i] = (ch >= 0x21 && ch < 0x7f) ? (char)ch : '?';
  }
  dst[i] = '\0';
}

void rpc_peer_desc(char *dst, size_t cap, const char *addr, const char *sender) {
  if (sender && *sender)
    snprintf(dst, cap, "%s (%s)", addr, sender);
  else
    snprintf(dst, cap, "%s", addr);
}
