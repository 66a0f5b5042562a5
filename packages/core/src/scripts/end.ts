/**
 * end: removes a run from every structure and returns its last state.
 * A run that is gone or lapsed fails NOT_FOUND (a lapsed run is reported by the sweeper instead,
 * so each run is either ended or expired, never both).
 *
 * KEYS: 1 runs, 2 index, 3 by-source, 4 lease, 5 meta, 6 registry
 * ARGV: 1 tag, 2 id, 3 channel, 4 pubmode
 * Returns: { value, leaseScore }
 */
export const END = `
local id = ARGV[2]
local now = now_ms()
local value, ls, rank, phase = load_active(id, now)
local zsets = { KEYS[2] }
if rank > 0 then zsets[2] = KEYS[3] end
preflight(zsets, nil)
remove_run(id, value, rank, phase)
local s = fmt(ls)
publish(ARGV[3], ARGV[4], 'ended', id, s, value)
return { value, s }
`;
