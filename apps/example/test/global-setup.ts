import { redisGlobalSetup } from '@active-runs/test-utils';

// One Redis for the run: REDIS_URL, else a throwaway redis-server, else testcontainers.
export default redisGlobalSetup;
