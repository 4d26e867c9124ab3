/** Imported before the harness: this file's cluster has one node (the harness starts it on load). */
process.env.CLUSTER_NODES = "node-a";
