/* ctl_netplan: names and addresses of a --netns cluster, and the cut
** matrices of every partition shape. */
#include <criterion/criterion.h>
#include <string.h>

#include "coordinator/ctl/ctl_netplan.h"

static ctl_conf conf;
static ctl_cut cut;

static bool cuts(const char *from, const char *to) {
  int a = ctl_net_node_index(&conf, ctl_conf_find(&conf, from));
  int b = ctl_net_node_index(&conf, ctl_conf_find(&conf, to));
  cr_assert(a >= 0 && b >= 0);
  return cut.cut[a * cut.n + b];
}

static void setup3(void) {
  cr_assert_eq(ctl_conf_build(&conf, 3, 3, 7210, "sqlite", NULL), 0);
  conf.netns = true;
}

Test(ctl_netplan, names_and_addresses_follow_the_base_port, .init = setup3) {
  char buf[64];
  ctl_net_node_addr(&conf, &conf.nodes[0], buf, sizeof buf);
  cr_assert_str_eq(buf, "10.28.42.2"); /* 7210 = 28 * 256 + 42 */
  ctl_net_node_addr(&conf, &conf.nodes[5], buf, sizeof buf);
  cr_assert_str_eq(buf, "10.28.42.7");
  ctl_net_host_addr(&conf, buf, sizeof buf);
  cr_assert_str_eq(buf, "10.28.42.1");
  ctl_net_bridge_name(&conf, buf, sizeof buf);
  cr_assert_str_eq(buf, "syn7210br");
  ctl_net_ns_name(&conf, &conf.nodes[3], buf, sizeof buf);
  cr_assert_str_eq(buf, "syn7210-p1");
  ctl_net_veth_name(&conf, &conf.nodes[3], buf, sizeof buf);
  cr_assert_str_eq(buf, "syn7210v3");
  conf.netns = false;
  ctl_net_node_addr(&conf, &conf.nodes[0], buf, sizeof buf);
  cr_assert_str_eq(buf, "127.0.0.1");
}

Test(ctl_netplan, interface_names_fit_ifnamsiz) {
  cr_assert_eq(ctl_conf_build(&conf, 99, 99, 65535 - CTL_PORT_SPAN, "sqlite", NULL), 0);
  char buf[64];
  ctl_net_veth_name(&conf, &conf.nodes[conf.n_nodes - 1], buf, sizeof buf);
  cr_assert_lt(strlen(buf), CTL_NET_IFNAME_MAX, "%s", buf);
  ctl_net_bridge_name(&conf, buf, sizeof buf);
  cr_assert_lt(strlen(buf), CTL_NET_IFNAME_MAX, "%s", buf);
  conf.netns = true;
  ctl_net_node_addr(&conf, &conf.nodes[conf.n_nodes - 1], buf, sizeof buf);
  cr_assert_str_eq(buf, "10.254.211.199");
}

Test(ctl_netplan, groups_cut_both_ways_between_groups_only, .init = setup3) {
  cr_assert_eq(ctl_cut_groups(&conf, "c1,c2 | c3,p1", &cut, NULL), 0);
  cr_assert(cuts("c1", "c3") && cuts("c3", "c1") && cuts("c2", "p1") && cuts("p1", "c2"));
  cr_assert(!cuts("c1", "c2") && !cuts("c3", "p1"));
  cr_assert(!cuts("c1", "p2") && !cuts("p2", "c3")); /* not named: keeps its links */
  cr_assert_eq(ctl_cut_count(&cut), 8);
  cr_assert_eq(ctl_cut_groups(&conf, "c1|c2|c3", &cut, NULL), 0);
  cr_assert_eq(ctl_cut_count(&cut), 6);
}

Test(ctl_netplan, groups_reject_bad_specs, .init = setup3) {
  syn_err e;
  cr_assert_eq(ctl_cut_groups(&conf, "c1,c2", &cut, &e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "two groups"));
  cr_assert_eq(ctl_cut_groups(&conf, "c1|c1", &cut, &e), SYN_EINVAL);
  cr_assert(strstr(e.msg, "twice"));
  cr_assert_eq(ctl_cut_groups(&conf, "c1|zz", &cut, &e), SYN_ENOTFOUND);
  cr_assert_eq(ctl_cut_groups(&conf, "c1||c2", &cut, &e), SYN_EINVAL);
  cr_assert_eq(ctl_cut_groups(&conf, "", &cut, &e), SYN_EINVAL);
  cr_assert_eq(ctl_cut_groups(&conf, "c1;c2", &cut, &e), SYN_ENOTFOUND); /* one bad name */
}

Test(ctl_netplan, isolate_cuts_one_node_from_all, .init = setup3) {
  cr_assert_eq(ctl_cut_isolate(&conf, "c2", &cut, NULL), 0);
  cr_assert_eq(ctl_cut_count(&cut), 10);
  cr_assert(cuts("c2", "p3") && cuts("p3", "c2") && !cuts("c1", "c3"));
}

Test(ctl_netplan, majority_minority_puts_the_leader_in_the_minority) {
  cr_assert_eq(ctl_conf_build(&conf, 5, 2, 7000, "sqlite", NULL), 0);
  cr_assert_eq(ctl_cut_majority_minority(&conf, "c4", &cut, NULL), 0);
  /* minority {c4, c1}; majority {c2, c3, c5, p1, p2} */
  cr_assert(cuts("c4", "c2") && cuts("c1", "p1") && cuts("p2", "c4"));
  cr_assert(!cuts("c4", "c1") && !cuts("c2", "c5") && !cuts("c3", "p1"));
  cr_assert_eq(ctl_cut_count(&cut), 2 * 2 * 5);
  syn_err e;
  cr_assert_eq(ctl_cut_majority_minority(&conf, "p1", &cut, &e), SYN_EINVAL);
}

Test(ctl_netplan, ring_lets_every_coordinator_hear_a_different_majority) {
  cr_assert_eq(ctl_conf_build(&conf, 5, 1, 7000, "sqlite", NULL), 0);
  cr_assert_eq(ctl_cut_ring(&conf, &cut, NULL), 0);
  const char *co[5] = {"c1", "c2", "c3", "c4", "c5"};
  for (int i = 0; i < 5; i++) {
    int heard = 0;
    for (int j = 0; j < 5; j++) heard += !cuts(co[j], co[i]);
    cr_assert_eq(heard, 3, "%s hears %d", co[i], heard);
    cr_assert(!cuts(co[(i + 1) % 5], co[i]) && !cuts(co[(i + 2) % 5], co[i]));
  }
  cr_assert(!cuts("p1", "c1") && !cuts("c1", "p1"));
}

Test(ctl_netplan, bridge_joins_two_halves_through_the_middle) {
  cr_assert_eq(ctl_conf_build(&conf, 5, 1, 7000, "sqlite", NULL), 0);
  cr_assert_eq(ctl_cut_bridge(&conf, &cut, NULL), 0);
  cr_assert(cuts("c1", "c4") && cuts("c5", "c2") && !cuts("c3", "c1") && !cuts("c3", "c5"));
  cr_assert(!cuts("c1", "c2") && !cuts("c4", "c5"));
  cr_assert_eq(ctl_cut_count(&cut), 8);
}

Test(ctl_netplan, asymmetric_cuts_one_direction, .init = setup3) {
  cr_assert_eq(ctl_cut_asymmetric(&conf, "c1", "p2", &cut, NULL), 0);
  cr_assert(cuts("c1", "p2") && !cuts("p2", "c1"));
  cr_assert_eq(ctl_cut_count(&cut), 1);
  syn_err e;
  cr_assert_eq(ctl_cut_asymmetric(&conf, "c1", "c1", &cut, &e), SYN_EINVAL);
}

Test(ctl_netplan, conf_records_the_network) {
  cr_assert_eq(ctl_conf_parse("synod-cluster 1\nbackend sqlite\nbase-port 7000\nnetwork netns\n"
                              "node c1 coordinator rpc=7100 sql=7000\nnode p1 participant rpc=7200\n",
                              &conf, NULL), 0);
  cr_assert(conf.netns);
  syn_err e;
  cr_assert_eq(ctl_conf_parse("synod-cluster 1\nbackend sqlite\nbase-port 7000\nnetwork wifi\n"
                              "node c1 coordinator rpc=7100 sql=7000\nnode p1 participant rpc=7200\n",
                              &conf, &e), SYN_EINVAL);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_eq(ctl_conf_build(&conf, 1, 1, 7000, "sqlite", NULL), 0);
  conf.netns = true;
  cr_assert_eq(ctl_conf_write(&conf, f, NULL), 0);
  fclose(f);
  cr_assert(strstr(buf, "\nnetwork netns\n"));
  ctl_conf back;
  cr_assert_eq(ctl_conf_parse(buf, &back, NULL), 0);
  cr_assert(back.netns);
  free(buf);
}
