//! The Lua scripts that make each step of a task atomic on the server.

use std::sync::LazyLock;

use redis::Script;

/// A worker starts a task it read: a cancelled task is dropped (acked,
/// never run); a task started `ARGV[6]` times already (its retry limit is
/// reached) is reported; otherwise the attempt is recorded and the client
/// told that the task runs.
///
/// KEYS: tasks, attempts, cancel, reply, stats.
/// ARGV: group, entry id, task id, worker, host, max attempts, ttl ms, now ms.
/// Returns `{0}` cancelled, `{1, n, a1, ...}` started as attempt n after
/// the attempts a1... (`worker@host`), `{2, a1, a2, ...}` retries exhausted.
/// Running it again for the same worker (a batch resent after a lost
/// connection) does not record a second attempt.
pub(crate) static START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[2])
  redis.call('HINCRBY', KEYS[5], 'cancelled', 1)
  return {0}
end
local me = ARGV[4] .. '@' .. ARGV[5]
local r = redis.call('LRANGE', KEYS[2], 0, -1)
local n = #r
if n > 0 and r[n] == me then
  table.remove(r)
  table.insert(r, 1, n)
  table.insert(r, 1, 1)
  return r
end
if n >= tonumber(ARGV[6]) then
  table.insert(r, 1, 2)
  return r
end
redis.call('RPUSH', KEYS[2], me)
redis.call('PEXPIRE', KEYS[2], ARGV[7])
if n > 0 then redis.call('HINCRBY', KEYS[5], 'retried', 1) end
redis.call('XADD', KEYS[4], '*', 'id', ARGV[3], 'k', 's', 'w', ARGV[4], 'h', ARGV[5], 'a', n + 1, 't0', ARGV[8])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
table.insert(r, 1, n + 1)
table.insert(r, 1, 1)
return r
"#,
    )
});

/// A worker finishes a task: acks and deletes the entry and publishes the
/// outcome, all or nothing. An entry no longer pending (another worker
/// finished it first) is not published again: it counts as `late`.
///
/// KEYS: tasks, reply, attempts, stats, dead.
/// ARGV: group, entry id, task id, k (ok|err), v, worker, host, attempt,
/// ttl ms, t0, t1, dead-letter reason ('' = none), counter, has reply (1|0).
/// Returns 1 if published, 0 if late.
pub(crate) static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  redis.call('HINCRBY', KEYS[4], 'late', 1)
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[3])
if ARGV[14] == '1' then
  redis.call('XADD', KEYS[2], '*', 'id', ARGV[3], 'k', ARGV[4], 'v', ARGV[5], 'w', ARGV[6], 'h', ARGV[7], 'a', ARGV[8], 't0', ARGV[10], 't1', ARGV[11])
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
end
if ARGV[12] ~= '' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 10000, '*', 'entry', ARGV[2], 'task', ARGV[3], 'reason', ARGV[12], 'worker', ARGV[6], 'host', ARGV[7])
  redis.call('HINCRBY', KEYS[4], 'dead', 1)
end
redis.call('HINCRBY', KEYS[4], ARGV[13], 1)
return 1
"#,
    )
});

/// A worker's heartbeat: records its info with the server's time, renews
/// the lease of each entry it still owns (XCLAIM JUSTID by itself resets
/// the idle time without counting a delivery), and returns the entries it
/// no longer owns (taken over). It also forgets workers silent for longer
/// than `ARGV[4]` ms that hold nothing.
///
/// KEYS: tasks, workers.
/// ARGV: group, worker, info, forget after ms, entry ids...
/// Returns `{now ms, lost ids...}`.
pub(crate) static BEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[2], now .. '|' .. ARGV[3])
local out = {now}
for i = 5, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] ~= nil and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    table.insert(out, ARGV[i])
  end
end
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  local beat = tonumber(string.match(all[i + 1], '^(%d+)|'))
  if all[i] ~= ARGV[2] and (beat == nil or now - beat > tonumber(ARGV[4])) then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, all[i])
    if #p == 0 then
      redis.call('HDEL', KEYS[2], all[i])
      pcall(redis.call, 'XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], all[i])
    end
  end
end
return out
"#,
    )
});

/// A worker leaves: forgets its info, and its consumer if it holds nothing.
///
/// KEYS: tasks, workers. ARGV: group, worker.
pub(crate) static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
redis.call('HDEL', KEYS[2], ARGV[2])
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p == 0 then
  pcall(redis.call, 'XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return #p
"#,
    )
});

/// Every script, loaded on each (re)connection.
pub(crate) fn all() -> [&'static Script; 4] {
    [&START, &FINISH, &BEAT, &LEAVE]
}
