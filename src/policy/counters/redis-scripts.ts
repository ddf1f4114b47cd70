/**
 * Lua scripts of the Redis store. Each runs atomically on the server and reads the server's
 * clock (`TIME`), so replicas with skewed clocks still agree. Rate formulas mirror
 * sliding-window.ts operation for operation. Money is exact: Lua numbers are doubles, so
 * amounts travel as decimal strings and are added as two base-10^12 limbs.
 *
 * Budget scripts read the keys recorded in a reservation, beyond those passed in KEYS: fine on
 * a standalone or Sentinel Redis; on a Cluster give the store a prefix with a hash tag
 * (`{sluice}:`) so every key lands in one slot.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** Exact non-negative integers as {high, low} limbs of base 10^12, parsed from and printed to decimal strings. */
const BIG = `
local B = 1000000000000
local function big(s)
  if not s or s == '' then return {0, 0} end
  local n = #s
  if n <= 12 then return {0, tonumber(s)} end
  return {tonumber(string.sub(s, 1, n - 12)), tonumber(string.sub(s, n - 11))}
end
local function add(a, b)
  local hi, lo = a[1] + b[1], a[2] + b[2]
  if lo >= B then hi, lo = hi + 1, lo - B end
  return {hi, lo}
end
local function sub0(a, b)
  local hi, lo = a[1] - b[1], a[2] - b[2]
  if lo < 0 then hi, lo = hi - 1, lo + B end
  if hi < 0 then return {0, 0} end
  return {hi, lo}
end
local function le(a, b)
  return a[1] < b[1] or (a[1] == b[1] and a[2] <= b[2])
end
local function str(a)
  if a[1] == 0 then return string.format('%.0f', a[2]) end
  return string.format('%.0f', a[1]) .. string.format('%012.0f', a[2])
end
`;

/**
 * Drops a budget's expired reservations (holds zset: member "id|amount", score = expiry ms)
 * from its reserved total (counter hash field "r").
 */
const PURGE = `
local function purge(ckey, hkey)
  local expired = redis.call('ZRANGEBYSCORE', hkey, '-inf', now)
  if #expired == 0 then return end
  redis.call('ZREMRANGEBYSCORE', hkey, '-inf', now)
  local stored = redis.call('HGET', ckey, 'r')
  if not stored then return end
  local r = big(stored)
  for _, m in ipairs(expired) do
    r = sub0(r, big(string.sub(m, string.find(m, '|', 1, true) + 1)))
  end
  redis.call('HSET', ckey, 'r', str(r))
end
`;

/** Loads a rate counter (hash: i = window index, c = current, p = previous) rolled to now, as windowAt does. */
const LOAD_WINDOW = `
local function load(key, w)
  local v = redis.call('HMGET', key, 'i', 'c', 'p')
  local index = math.floor(now / w)
  local elapsed = now - index * w
  local si, c, p = tonumber(v[1]), tonumber(v[2]) or 0, tonumber(v[3]) or 0
  if not si or si < index - 1 then c, p = 0, 0
  elseif si == index - 1 then c, p = 0, c
  elseif si > index then index, elapsed = si, 0 end
  return index, c, p, elapsed
end
local function save(key, w, index, c, p)
  if c == 0 and p == 0 then
    redis.call('DEL', key)
  else
    redis.call('HSET', key, 'i', string.format('%.0f', index), 'c', string.format('%.0f', c), 'p', string.format('%.0f', p))
    redis.call('PEXPIREAT', key, string.format('%.0f', (index + 2) * w))
  end
end
`;

/**
 * KEYS: one rate counter per check. ARGV[1]: "1" to charge, "0" to peek; then per check
 * windowMs, limit, burst, cost. Charges every counter only if every one fits.
 * Returns {now, allowed, then per check: fits, index, previous, current (after any charge)}.
 */
export const RATE_CHECK = `${NOW}${LOAD_WINDOW}
local rows, allowed = {}, true
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  local w, limit, burst, cost = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local index, c, p, elapsed = load(KEYS[i], w)
  local fits = p * (w - elapsed) / w + c + cost <= limit + burst and p + c + cost <= 2 * limit
  if not fits then allowed = false end
  rows[i] = {w, cost, index, c, p, fits}
end
local out = {now, allowed and 1 or 0}
for i = 1, #KEYS do
  local row = rows[i]
  if allowed and ARGV[1] == '1' then
    row[4] = row[4] + row[2]
    save(KEYS[i], row[1], row[3], row[4], row[5])
  end
  table.insert(out, row[6] and 1 or 0)
  table.insert(out, row[3])
  table.insert(out, row[5])
  table.insert(out, row[4])
end
return out
`;

/** KEYS: one rate counter per adjustment. ARGV per adjustment: windowMs, chargedAtMs, delta (applyAdjustment's rule). */
export const RATE_ADJUST = `${NOW}${LOAD_WINDOW}
for i = 1, #KEYS do
  local b = (i - 1) * 3
  local w, chargedAt, delta = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local index, c, p = load(KEYS[i], w)
  local charged = math.floor(chargedAt / w)
  if delta >= 0 then c = c + delta
  elseif charged >= index then c = math.max(0, c + delta)
  elseif charged == index - 1 then p = math.max(0, p + delta) end
  save(KEYS[i], w, index, c, p)
end
return 1
`;

/**
 * KEYS[1]: the reservation record; then per budget its counter hash (s = settled, r = reserved)
 * and holds zset. ARGV: id, ttlMs, recordTtlMs, then per budget limit, amount, expireAtMs,
 * block ("1"/"0"). Reserves on every budget only if every blocking one fits.
 * Returns {now, allowed, then per budget: fits, settled, reserved (after any reservation)}.
 */
export const BUDGET_RESERVE = `${NOW}${BIG}${PURGE}
local id, holdUntil = ARGV[1], now + tonumber(ARGV[2])
local n = (#KEYS - 1) / 2
local rows, allowed = {}, true
for i = 1, n do
  local ckey, hkey = KEYS[2 * i], KEYS[2 * i + 1]
  local b = 3 + (i - 1) * 4
  purge(ckey, hkey)
  local v = redis.call('HMGET', ckey, 's', 'r')
  local s, r, amount = big(v[1]), big(v[2]), big(ARGV[b + 2])
  local fits = le(add(add(s, r), amount), big(ARGV[b + 1]))
  if not fits and ARGV[b + 4] == '1' then allowed = false end
  rows[i] = {ckey, hkey, s, r, amount, fits, math.max(tonumber(ARGV[b + 3]), holdUntil)}
end
local out, lines = {now, allowed and 1 or 0}, {}
for i = 1, n do
  local row = rows[i]
  if allowed then
    local ckey, hkey, amount, expireAt = row[1], row[2], str(row[5]), string.format('%.0f', row[7])
    row[4] = add(row[4], row[5])
    redis.call('HSET', ckey, 'r', str(row[4]))
    redis.call('ZADD', hkey, holdUntil, id .. '|' .. amount)
    redis.call('PEXPIREAT', ckey, expireAt)
    redis.call('PEXPIREAT', hkey, expireAt)
    lines[i] = {ckey, hkey, amount, expireAt}
  end
  table.insert(out, row[6] and 1 or 0)
  table.insert(out, str(row[3]))
  table.insert(out, str(row[4]))
end
if allowed then
  redis.call('SET', KEYS[1], cjson.encode({id = id, state = 'open', lines = lines}), 'PX', ARGV[3])
end
return out
`;

/**
 * KEYS[1]: the reservation record. ARGV[1]: "settle" or "release"; ARGV[2]: actual cost.
 * Removes the hold from each budget (if it has not expired already) and, to settle, adds the
 * actual cost. The record's state makes repeats no-ops. Returns a ReservationOutcome.
 */
export const BUDGET_FINISH = `${NOW}${BIG}
local raw = redis.call('GET', KEYS[1])
if not raw then return 'unknown' end
local rec = cjson.decode(raw)
if rec.state == 'settled' then return 'already_settled' end
if rec.state == 'released' then return 'already_released' end
local settle = ARGV[1] == 'settle'
for _, line in ipairs(rec.lines) do
  local ckey, hkey, amount, expireAt = line[1], line[2], line[3], line[4]
  -- A period whose counter has expired is over: nothing left to enforce or report.
  if tonumber(expireAt) > now then
    local v = redis.call('HMGET', ckey, 's', 'r')
    local s, r = big(v[1]), big(v[2])
    if redis.call('ZREM', hkey, rec.id .. '|' .. amount) == 1 then r = sub0(r, big(amount)) end
    if settle then s = add(s, big(ARGV[2])) end
    redis.call('HSET', ckey, 's', str(s), 'r', str(r))
    redis.call('PEXPIREAT', ckey, expireAt)
  end
end
rec.state = settle and 'settled' or 'released'
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
return 'applied'
`;

/** KEYS: a budget's counter hash and holds zset. Returns {settled, reserved}, expired holds dropped. */
export const BUDGET_SPEND = `${NOW}${BIG}${PURGE}
purge(KEYS[1], KEYS[2])
local v = redis.call('HMGET', KEYS[1], 's', 'r')
return {str(big(v[1])), str(big(v[2]))}
`;
