import { redisClusterGlobalSetup } from '@active-runs/test-utils';

// One 3-master Redis Cluster for the `cluster` project: REDIS_CLUSTER_NODES, else a local one.
export default redisClusterGlobalSetup;
