-- End-to-end tests of the Neovim plugin: each test starts a real Neovim (`--embed
-- --headless`, driven over RPC as a UI would drive it) with the plugin, which starts
-- the real aumatron-lsp with the real model; cloud tests point a provider at the
-- loopback fake (tests/fake_cloud.py). Run by tests/run.sh, which isolates the XDG
-- folders and the keyring; prints `N passed, N failed`.
--
-- Usage: nvim --headless -u NONE -i NONE -l run.lua [name-filter]

local env = vim.env
local NVIM = assert(env.AUMATRON_NVIM, 'AUMATRON_NVIM is not set')
local PLUGIN = assert(env.AUMATRON_NVIM_PLUGIN, 'AUMATRON_NVIM_PLUGIN is not set')
local WORK = assert(env.AUMATRON_TEST_DIR, 'AUMATRON_TEST_DIR is not set')
local REPO = assert(env.AUMATRON_REPO, 'AUMATRON_REPO is not set')
local FAKE = env.AUMATRON_FAKE_CLOUD -- http://127.0.0.1:PORT, when the fake runs
local filter = _G.arg and _G.arg[1] or nil
math.randomseed(os.time() + vim.fn.getpid())

vim.opt.runtimepath:prepend(PLUGIN)

local uv = vim.uv

---@param fmt string
local function say(fmt, ...)
  io.stdout:write(fmt:format(...) .. '\n')
  io.stdout:flush()
end

-- Assertions -----------------------------------------------------------------

local function fail(message, level)
  error(message, (level or 1) + 1)
end

local function eq(actual, expected, what)
  if not vim.deep_equal(actual, expected) then
    fail(('%s: expected %s, got %s'):format(what, vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

local function truthy(value, what)
  if not value then
    fail(what, 2)
  end
  return value
end

local function contains(haystack, needle, what)
  if type(haystack) ~= 'string' or not haystack:find(needle, 1, true) then
    fail(('%s: %s does not contain %s'):format(what, vim.inspect(haystack), vim.inspect(needle)), 2)
  end
end

--- Polls `fn` until it returns a truthy value or `seconds` pass.
local function wait_until(seconds, what, fn)
  local deadline = uv.now() + seconds * 1000
  while true do
    local value = fn()
    if value then
      return value
    end
    if uv.now() > deadline then
      fail(('timed out after %ds waiting for %s'):format(seconds, what), 2)
    end
    vim.wait(50)
  end
end

-- A Neovim under test --------------------------------------------------------

local Child = {}
Child.__index = Child

--- Starts Neovim with tests/init.lua and `settings` for the server.
---@param opts { settings: table?, layout: string?, init: string?, encoding: string?, keymaps: boolean? }?
function Child.start(opts)
  opts = opts or {}
  local child_env = vim.tbl_extend('force', Child.env or {}, {
    AUMATRON_TEST_SETTINGS = vim.json.encode(opts.settings or vim.empty_dict()),
    AUMATRON_TEST_LAYOUT = opts.layout or 'float',
    AUMATRON_TEST_ENCODING = opts.encoding,
    AUMATRON_TEST_KEYMAPS = opts.keymaps and '1' or nil,
  })
  local init = opts.init or (PLUGIN .. '/tests/init.lua')
  local cmd = { NVIM, '--embed', '--headless', '-n', '-i', 'NONE', '-u', init }
  local chan = vim.fn.jobstart(cmd, { rpc = true, env = child_env, cwd = WORK })
  truthy(chan > 0, 'could not start ' .. NVIM)
  local self = setmetatable({ chan = chan }, Child)
  -- The first request waits for start-up to finish.
  self:lua('return true')
  return self
end

function Child:lua(code, ...)
  return vim.rpcrequest(self.chan, 'nvim_exec_lua', code, { ... })
end

function Child:cmd(command)
  return vim.rpcrequest(self.chan, 'nvim_command', command)
end

--- Types keys as a user would; they are handled after the call returns.
function Child:type(keys)
  vim.rpcrequest(self.chan, 'nvim_input', keys)
end

function Child:wait(seconds, what, code, ...)
  local args = { ... }
  return wait_until(seconds, what, function()
    local value = self:lua(code, unpack(args))
    -- A Lua nil comes back over RPC as vim.NIL, which is truthy.
    return value ~= vim.NIL and value or nil
  end)
end

--- Opens a copy of `examples/<name>` (or a new file with `lines`) and waits for the
--- server to attach.
function Child:open_example(name, lines)
  local path = WORK .. '/' .. name
  vim.fn.writefile(lines or vim.fn.readfile(REPO .. '/examples/' .. name, 'b'), path, 'b')
  self:cmd('edit ' .. vim.fn.fnameescape(path))
  self:wait(
    30,
    'the aumatron client to attach',
    [[
    local client = vim.lsp.get_clients({ bufnr = 0, name = 'aumatron' })[1]
    return client ~= nil and client.initialized == true
  ]]
  )
  return path
end

--- Waits for the newest task to end and returns its record.
function Child:wait_task_end(seconds)
  return self:wait(
    seconds,
    'the task to end',
    [[
    local task = T.last_task()
    if task and task.status ~= 'running' then
      return task
    end
  ]]
  )
end

function Child:notes()
  return self:lua('return T.notes')
end

function Child:stop()
  pcall(vim.rpcnotify, self.chan, 'nvim_command', 'qall!')
  if vim.fn.jobwait({ self.chan }, 5000)[1] == -1 then
    vim.fn.jobstop(self.chan)
  end
end

-- The fake cloud --------------------------------------------------------------

local function fake(method, path, body)
  local cmd = {
    'python3',
    '-c',
    [[
import json, sys, urllib.request
method, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
data = body.encode() if body else None
request = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as response:
    sys.stdout.write(response.read().decode())
]],
    method,
    FAKE .. path,
    body and vim.json.encode(body) or '',
  }
  local result = vim.system(cmd, { text = true }):wait(15000)
  truthy(result.code == 0, 'fake cloud ' .. path .. ': ' .. tostring(result.stderr))
  return result.stdout ~= '' and vim.json.decode(result.stdout) or nil
end

local function cloud_settings(extra)
  return vim.tbl_deep_extend('force', {
    providers = {
      openai = { baseUrl = FAKE .. '/v1' },
      anthropic = { baseUrl = FAKE },
    },
    ['local'] = { maxOutputTokens = 32 },
  }, extra or {})
end

-- Tests -----------------------------------------------------------------------

local tests = {}

---@param name string
---@param fn fun()
---@param opts { cloud: boolean? }?
local function test(name, fn, opts)
  table.insert(tests, { name = name, fn = fn, cloud = opts and opts.cloud })
end

local children = {}
local function child(opts)
  local c = Child.start(opts)
  table.insert(children, c)
  return c
end

test('ranges follow the selection in utf-8, utf-16 and utf-32', function()
  local range = require('aumatron.range')
  local buf = vim.api.nvim_create_buf(false, true)
  -- 'é' is 2 bytes, 1 UTF-16 unit; '𐐀' is 4 bytes, 2 UTF-16 units, 1 UTF-32 unit.
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'aé𐐀b', 'second line', 'last' })
  -- Select from 'é' (byte 1) through '𐐀' (starts at byte 3) on line 1.
  local expected = {
    ['utf-8'] = { 1, 7 },
    ['utf-16'] = { 1, 4 },
    ['utf-32'] = { 1, 3 },
  }
  for encoding, columns in pairs(expected) do
    local r = range.charwise(buf, { 1, 1 }, { 1, 3 }, encoding)
    eq(r, {
      start = { line = 0, character = columns[1] },
      ['end'] = { line = 0, character = columns[2] },
    }, 'charwise range in ' .. encoding)
  end
  -- Backwards selections are put in order; a column past the end takes the line break.
  eq(range.charwise(buf, { 2, 999 }, { 1, 0 }, 'utf-16'), {
    start = { line = 0, character = 0 },
    ['end'] = { line = 2, character = 0 },
  }, 'backwards selection to the end of a line')
  -- With 'selection' exclusive, the end column is already past the last character.
  eq(range.charwise(buf, { 1, 1 }, { 1, 3 }, 'utf-16', true), {
    start = { line = 0, character = 1 },
    ['end'] = { line = 0, character = 2 },
  }, 'exclusive selection')
  eq(range.lines(3, 2), {
    start = { line = 1, character = 0 },
    ['end'] = { line = 3, character = 0 },
  }, 'whole lines, reaching the end of the buffer')
  vim.api.nvim_buf_delete(buf, { force = true })
end)

test('statusline text and dollar amounts', function()
  local budget = require('aumatron.budget')
  eq(budget.format_usd(0), '$0', 'zero')
  eq(budget.format_usd(10), '$10', 'whole dollars')
  eq(budget.format_usd(1.234567), '$1.23', 'cents')
  eq(budget.format_usd(0.0012), '$0.0012', 'below a cent')
  eq(budget.format_usd(0.00005), '<$0.0001', 'tiny')
  local saved = budget.state
  budget.state = nil
  eq(budget.statusline(), '', 'before any budget')
  budget.state = { state = 'ok', spentUsd = 1.234567, capUsd = 10 }
  eq(budget.statusline(), 'AI $1.23/$10', 'ok')
  budget.state = { state = 'warning', spentUsd = 8.4, capUsd = 10 }
  eq(budget.statusline(), 'AI $8.40/$10 warning', 'warning')
  eq(budget.highlight(), 'AumatronBudgetWarning', 'warning highlight')
  budget.state = { state = 'exhausted', spentUsd = 10, capUsd = 10 }
  eq(budget.statusline(), 'AI $10/$10 exhausted', 'exhausted')
  budget.state = { state = 'local-only', spentUsd = 0, capUsd = 10 }
  eq(budget.statusline(), 'AI local only', 'local only')
  budget.state = saved
end)

test('completion for :Aumatron', function()
  local command = require('aumatron.command')
  eq(command.complete('', 'Aumatron '), command.subcommands, 'subcommands')
  eq(command.complete('ex', "'<,'>Aumatron ex"), { 'explain' }, 'after a range')
  eq(
    command.complete('', 'Aumatron explain '),
    { 'local', 'cloud', 'openai', 'anthropic' },
    'targets'
  )
  eq(command.complete('s', 'Aumatron key s'), { 'set' }, 'key actions')
  eq(command.complete('op', 'Aumatron key set op'), { 'openai' }, 'providers')
  eq(command.complete('', 'Aumatron budget '), {}, 'nothing after budget')
end)

test('vim.lsp.enable("aumatron") alone starts the server with streaming declared', function()
  local c = child({ init = PLUGIN .. '/tests/init_minimal.lua' })
  c:open_example('word_count.rs')
  local info = c:lua([[
    local client = vim.lsp.get_clients({ bufnr = 0, name = 'aumatron' })[1]
    return {
      declared = client.config.capabilities.experimental.aumatron,
      offered = client.server_capabilities.experimental.aumatron,
      encoding = client.offset_encoding,
      command = vim.fn.exists(':Aumatron'),
    }
  ]])
  eq(info.declared, { taskOutput = true }, 'declared capability')
  eq(info.offered.taskOutput, true, 'the server streams')
  eq(info.encoding, 'utf-8', 'negotiated position encoding')
  eq(info.command, 2, ':Aumatron exists')
end)

test('a visual range, then :Aumatron explain, streams the answer into a float', function()
  local c = child({ settings = { ['local'] = { maxOutputTokens = 48 } } })
  c:open_example('word_count.rs')
  local before = c:lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
  -- Select the function's first three lines, as a user would, and run the command.
  c:type('5GVjj:Aumatron explain<CR>')
  local task = c:wait_task_end(120)
  eq(task.status, 'done', 'task status')
  eq(task.kind, 'explain', 'task kind')
  eq(task.provider, 'local', 'provider')
  truthy(task.updates > 2, 'several notifications arrived: ' .. tostring(task.updates))
  truthy(vim.trim(task.text or '') ~= '', 'the answer is not empty')

  local output = truthy(c:lua('return T.output()'), 'the output window is open')
  eq(output.floating, true, 'the window floats')
  eq(output.text, task.text, 'the window shows the final answer')
  eq(output.task, task.id, 'the window shows this task')

  -- While the task ran, the float already held part of the answer.
  local snapshots = c:lua('return T.snapshots')
  local partial = vim.tbl_filter(function(s)
    return s.output and s.output.floating and s.output.text ~= ''
  end, snapshots)
  truthy(#partial > 0, 'text appeared in the float while the task was running')
  local first = partial[1].output.text
  truthy(#first < #task.text or #partial > 1, 'the float filled in steps')

  -- Explain makes no edit when the answer streams, and the cursor stays put.
  eq(c:lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)'), before, 'the buffer is unchanged')
  eq(c:lua('return vim.bo.filetype'), 'rust', 'focus stays in the source buffer')
end)

test(':Aumatron cancel stops a long task', function()
  local c = child({ settings = { ['local'] = { maxOutputTokens = 2048 } } })
  c:open_example('word_count.rs')
  c:type(':%Aumatron explain<CR>')
  c:wait(
    120,
    'the first text',
    [[
    local task = T.last_task()
    return task and task.status == 'running' and (task.text or '') ~= ''
  ]]
  )
  c:cmd('Aumatron cancel')
  local task = c:wait_task_end(30)
  eq(task.status, 'cancelled', 'task status')
  truthy(task.output_tokens < 2048, 'generation stopped early: ' .. tostring(task.output_tokens))
  contains(c:lua('return T.output().text'), 'Cancelled', 'the window says so')
  -- Nothing is left to cancel.
  c:cmd('Aumatron cancel')
  contains(c:lua('return T.notes[#T.notes].message'), 'no task is running', 'second cancel')
end)

test(':Aumatron draft inserts the server edit after the selection', function()
  local c = child({ settings = { ['local'] = { maxOutputTokens = 40 } } })
  c:open_example('word_count.rs')
  local before = c:lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')
  c:type('5GVjj:Aumatron draft<CR>')
  c:wait(10, 'the draft prompt', [[return vim.fn.mode() == 'c']])
  c:type('Write a one-line comment saying what the function returns<CR>')
  local task = c:wait_task_end(120)
  eq(task.status, 'done', 'task status')
  eq(task.kind, 'draft', 'task kind')
  local after = c:wait(
    10,
    'the edit',
    [[
    local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    if #lines > select(1, ...) then return lines end
  ]],
    #before
  )
  -- The lines up to the end of the selection are untouched; the draft follows them.
  eq(vim.list_slice(after, 1, 7), vim.list_slice(before, 1, 7), 'lines up to the selection')
  eq(
    vim.list_slice(after, #after - (#before - 7) + 1),
    vim.list_slice(before, 8),
    'lines after the draft'
  )
end)

test('split layout: :Aumatron summarise on the current line', function()
  local c = child({ layout = 'split', settings = { ['local'] = { maxOutputTokens = 24 } } })
  c:open_example('release-notes.md')
  c:cmd('normal! 3G')
  c:cmd('Aumatron summarise')
  local task = c:wait_task_end(120)
  eq(task.status, 'done', 'task status')
  local output = truthy(c:lua('return T.output()'), 'the output window is open')
  eq(output.floating, false, 'a split, not a float')
  eq(output.text, task.text, 'the split shows the answer')
  eq(c:lua('return #vim.api.nvim_tabpage_list_wins(0)'), 2, 'two windows')
end)

test('the explain key map in Visual mode sends the live selection', function()
  local c = child({ keymaps = true, settings = { ['local'] = { maxOutputTokens = 8 } } })
  c:open_example('wide.md', { 'Notes', 'naïve café 𐐀 emoji 😀 tail', 'end' })
  -- From "café" through the emoji, characterwise; <leader> is a backslash here.
  c:type('2G0fcvf😀\\ae')
  local task = c:wait_task_end(60)
  eq(task.status, 'done', 'task status')
  eq(c:lua('return T.starts'), {
    {
      kind = 'explain',
      range = { start = { line = 1, character = 7 }, ['end'] = { line = 1, character = 28 } },
    },
  }, 'the task and its range in utf-8')
  eq(c:lua('return vim.fn.mode()'), 'n', 'Visual mode ended')
  -- Linewise, from Normal mode on the current line, then from a linewise selection.
  c:type('3G\\as')
  c:wait_task_end(60)
  c:wait(60, 'the second task', [[return #T.starts == 2 and T.last_task().status ~= 'running']])
  eq(c:lua('return T.starts[2].range'), {
    start = { line = 2, character = 0 },
    ['end'] = { line = 3, character = 0 },
  }, 'the current line')
end)

test('a code action picked from vim.lsp.buf.code_action() streams into the float', function()
  local c = child({ settings = { ['local'] = { maxOutputTokens = 16 } } })
  c:open_example('word_count.rs')
  c:lua([[
    vim.lsp.buf.code_action({
      range = { start = { 5, 0 }, ['end'] = { 7, 0 } },
      filter = function(action) return action.title == 'Summarise with the local model' end,
      apply = true,
    })
  ]])
  local task = c:wait_task_end(120)
  eq(task.status, 'done', 'task status')
  eq(task.kind, 'summarise', 'task kind')
  local output = truthy(c:lua('return T.output()'), 'the output window is open')
  eq(output.floating, true, 'the window floats')
  eq(output.text, task.text, 'the window shows the answer')
  eq(c:lua('return #T.starts'), 0, 'started by the server, not by :Aumatron')
end)

test(':checkhealth aumatron runs without errors', function()
  local c = child()
  c:open_example('word_count.rs')
  c:cmd('checkhealth aumatron')
  local text = c:lua([[return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')]])
  contains(text, 'aumatron: server', 'server section')
  contains(text, 'server found', 'server found')
  contains(text, 'aumatron-lsp 0.', 'server version')
  contains(text, 'OK model', 'the model was found')
  contains(text, 'aumatron: keys and budget', 'keys and budget section')
  truthy(not text:find('ERROR'), 'no errors:\n' .. text)
end)

test('the help file has tags and :help finds them', function()
  local doc = WORK .. '/help/doc'
  vim.fn.mkdir(doc, 'p')
  vim.fn.writefile(vim.fn.readfile(PLUGIN .. '/doc/aumatron.txt', 'b'), doc .. '/aumatron.txt', 'b')
  vim.cmd('helptags ' .. vim.fn.fnameescape(doc))
  local tags = vim.fn.readfile(doc .. '/tags')
  local names = vim.tbl_map(function(line)
    return vim.split(line, '\t')[1]
  end, tags)
  for _, tag in ipairs({
    'aumatron',
    'aumatron-setup',
    ':Aumatron',
    'aumatron-statusline',
    'aumatron-health',
  }) do
    truthy(vim.list_contains(names, tag), 'tag ' .. tag .. ' in ' .. table.concat(names, ' '))
  end
  vim.opt.runtimepath:prepend(WORK .. '/help')
  vim.cmd('help aumatron-statusline')
  contains(vim.api.nvim_buf_get_name(0), 'aumatron.txt', 'help buffer')
  vim.cmd('helpclose')
end)

-- Cloud tests: the loopback fake stands in for the providers.

local function random_key()
  return ('sk-nvimtest-%08x%08x'):format(math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

--- Waits until the budget says whether `provider` has a key, and returns the budget.
local function wait_has_key(c, provider, has_key)
  return c:wait(
    30,
    ('%s hasKey = %s'):format(provider, tostring(has_key)),
    [[
    local provider, wanted = ...
    local state = require('aumatron').budget()
    for _, p in ipairs(state and state.providers or {}) do
      if p.id == provider and p.hasKey == wanted then
        return state
      end
    end
  ]],
    provider,
    has_key
  )
end

--- Types `:Aumatron key set <provider>` and the key into its prompt.
local function set_key(c, provider, key)
  c:type(':Aumatron key set ' .. provider .. '<CR>')
  c:wait(10, 'the key prompt', [[return vim.fn.mode() == 'c']])
  c:type(key .. '<CR>')
  return wait_has_key(c, provider, true)
end

--- Every file under `dir`, read whole.
local function files_under(dir)
  local found = {}
  for name, kind in vim.fs.dir(dir, { depth = 10 }) do
    if kind == 'file' then
      local path = dir .. '/' .. name
      local handle = io.open(path, 'rb')
      if handle then
        found[path] = handle:read('*a')
        handle:close()
      end
    end
  end
  return found
end

test('key set and remove go through the real keyring, and the key is never logged', function()
  local key = random_key()
  local c = child({ settings = cloud_settings() })
  -- At DEBUG Neovim logs every request's parameters; the plugin must keep the key out.
  c:lua([[vim.lsp.log.set_level('debug')]])
  c:open_example('word_count.rs')
  set_key(c, 'openai', key)
  c:wait(
    10,
    'the confirmation',
    [[
    for _, note in ipairs(T.notes) do
      if note.message:find('key for openai stored', 1, true) then return true end
    end
  ]]
  )
  c:stop()

  -- A new Neovim, so a new server process: the key comes back from the keyring.
  local again = child({ settings = cloud_settings() })
  again:open_example('word_count.rs')
  wait_has_key(again, 'openai', true)
  again:cmd('Aumatron key remove openai')
  wait_has_key(again, 'openai', false)
  again:wait(
    10,
    'the removal to be confirmed',
    [[
    for _, note in ipairs(T.notes) do
      if note.message:find('key for openai removed', 1, true) then return true end
    end
  ]]
  )
  again:stop()

  local third = child({ settings = cloud_settings() })
  third:open_example('word_count.rs')
  wait_has_key(third, 'openai', false)
  third:stop()

  -- The key is nowhere on disk: not in Neovim's LSP log (which did log the
  -- removeKey request), its state or shada, nor the server's log.
  local lsp_log = env.XDG_STATE_HOME .. '/nvim/lsp.log'
  local files = files_under(env.XDG_STATE_HOME)
  files[env.AUMATRON_LOG_FILE] = table.concat(vim.fn.readfile(env.AUMATRON_LOG_FILE), '\n')
  contains(files[lsp_log], 'aumatron.removeKey', 'the LSP log recorded requests')
  for path, text in pairs(files) do
    truthy(not text:find(key, 1, true), 'the key is in ' .. path)
  end
end, { cloud = true })

test('the statusline shows the spend after a cloud task', function()
  local key = random_key()
  fake('POST', '/_control/reset')
  fake('POST', '/_control/keys', { keys = { key } })
  fake('POST', '/_control/script', {
    path = '/v1/chat/completions',
    steps = {
      { text = 'The loopback provider explains it.', usage = { input = 1000, output = 500 } },
    },
  })
  local c = child({ settings = cloud_settings() })
  c:lua([[vim.o.statusline = "%{%v:lua.require'aumatron'.statusline()%}"]])
  local function statusline()
    return c:lua([[return vim.api.nvim_eval_statusline(vim.o.statusline, {}).str]])
  end
  c:open_example('word_count.rs')
  set_key(c, 'openai', key)
  eq(statusline(), 'AI $0/$10', 'the statusline before any spend')
  local events = c:lua('return T.budgets')

  c:type('5GVjj:Aumatron explain openai<CR>')
  local task = c:wait_task_end(60)
  eq(task.status, 'done', 'task status')
  eq(task.provider, 'openai', 'provider')
  eq(task.cost_usd, 0.0012, 'charge: 1000 in and 500 out tokens of gpt-4.1-mini')
  eq(
    c:lua('return T.output().text'),
    'The loopback provider explains it.',
    'the answer in the window'
  )
  contains(c:lua('return T.output().footer[1][1]'), '$0.0012', 'the charge in the footer')

  c:wait(
    10,
    'the statusline to show the spend',
    [[
    return vim.api.nvim_eval_statusline(vim.o.statusline, {}).str == 'AI $0.0012/$10'
  ]]
  )
  truthy(c:lua('return T.budgets') > events, 'User AumatronBudget fired')

  -- The request carried the key the user typed, and only the selected lines.
  local requests = fake('GET', '/_control/requests')
  eq(#requests, 1, 'requests sent to the provider')
  eq(requests[1].headers.authorization, 'Bearer ' .. key, 'the key in the request')
  local body = vim.json.encode(requests[1].body)
  contains(body, 'pub fn top_words', 'the selection was sent')
  truthy(
    not body:find('use std::collections', 1, true),
    'lines outside the selection were not sent'
  )

  local report = c:lua([[return vim.api.nvim_exec2('Aumatron budget', { output = true }).output]])
  contains(report, 'spent $0.0012 of $10', 'the budget report')
  contains(
    report,
    'last: ' .. task.id .. ' on openai gpt-4.1-mini, 1000 in / 500 out tokens, $0.0012',
    'last request'
  )
  c:cmd('Aumatron key remove openai')
  wait_has_key(c, 'openai', false)
end, { cloud = true })

--- Every string inside a decoded JSON value, joined.
local function strings_in(value, out)
  out = out or {}
  if type(value) == 'string' then
    table.insert(out, value)
  elseif type(value) == 'table' then
    for _, item in pairs(value) do
      strings_in(item, out)
    end
  end
  return out
end

test('a characterwise selection with wide characters reaches the provider exactly', function()
  for _, encoding in ipairs({ 'utf-8', 'utf-16', 'utf-32' }) do
    local key = random_key()
    fake('POST', '/_control/reset')
    fake('POST', '/_control/keys', { keys = { key } })
    local c = child({ settings = cloud_settings(), encoding = encoding })
    c:open_example(
      'wide-' .. encoding .. '.md',
      { 'Notes', 'naïve café 𐐀 emoji 😀 tail', 'end' }
    )
    eq(
      c:lua([[return vim.lsp.get_clients({ bufnr = 0, name = 'aumatron' })[1].offset_encoding]]),
      encoding,
      'negotiated encoding'
    )
    set_key(c, 'openai', key)
    -- From "café" through the emoji, characterwise.
    c:type('2G0fcvf😀:Aumatron explain openai<CR>')
    local task = c:wait_task_end(60)
    eq(task.status, 'done', encoding .. ' task status')
    local requests = fake('GET', '/_control/requests')
    eq(#requests, 1, encoding .. ' requests')
    local sent = table.concat(strings_in(requests[1].body), '\n')
    contains(sent, 'café 𐐀 emoji 😀', encoding .. ' selection sent')
    truthy(not sent:find('naïve', 1, true), encoding .. ': text before the selection was sent')
    truthy(not sent:find('tail', 1, true), encoding .. ': text after the selection was sent')
    c:cmd('Aumatron key remove openai')
    wait_has_key(c, 'openai', false)
    c:stop()
  end
end, { cloud = true })

test(':Aumatron budget and :Aumatron cap', function()
  local c = child({ settings = cloud_settings() })
  c:open_example('word_count.rs')
  c:wait(30, 'the first budget', [[return require('aumatron').budget() ~= nil]])
  local report = c:lua([[return vim.api.nvim_exec2('Aumatron budget', { output = true }).output]])
  contains(report, 'Aumatron budget for ', 'title')
  contains(
    report,
    'spent $0 of $10; reserved $0; remaining $10; state ok (warning from 80%)',
    'totals'
  )
  contains(report, 'openai     OpenAI gpt-4.1-mini (key missing): $0 in 0 requests', 'openai line')
  contains(report, 'anthropic  Anthropic claude-haiku-4-5 (key missing)', 'anthropic line')
  -- Run as a user runs it (not captured), the report stays in :messages.
  c:cmd('Aumatron budget')
  contains(c:lua([[return vim.fn.execute('messages')]]), 'spent $0 of $10', ':messages keeps it')

  c:cmd('Aumatron cap 5')
  c:wait(10, 'the new cap', [[return require('aumatron').statusline() == 'AI $0/$5']])
  local config =
    table.concat(vim.fn.readfile(Child.env.XDG_CONFIG_HOME .. '/aumatron/config.toml'), '\n')
  contains(config, 'monthlyCapUsd = 5', 'the cap is in the config file')
  c:cmd('Aumatron cap lots')
  contains(
    c:lua('return T.notes[#T.notes].message'),
    'usage: :Aumatron cap',
    'a bad cap is refused'
  )
end, { cloud = true })

test('cloud errors are reported: unknown provider, missing key', function()
  local c = child({ settings = cloud_settings() })
  c:open_example('word_count.rs')
  c:wait(30, 'the first budget', [[return require('aumatron').budget() ~= nil]])
  c:type('5G:Aumatron explain nosuch<CR>')
  c:wait(
    10,
    'an error',
    [[
    local note = T.notes[#T.notes]
    return note and note.level == vim.log.levels.ERROR and note.message:find('nosuch') ~= nil
  ]]
  )
  -- No key for openai: the task fails before anything is sent.
  fake('POST', '/_control/reset')
  c:type('5G:Aumatron explain openai<CR>')
  local task = c:wait_task_end(30)
  eq(task.status, 'failed', 'task status')
  contains(c:lua('return T.output().text'), 'Failed:', 'the window says why')
  eq(#fake('GET', '/_control/requests'), 0, 'nothing reached the provider')
end, { cloud = true })

-- Run -------------------------------------------------------------------------

local passed, failed = 0, 0
for index, t in ipairs(tests) do
  if filter and not t.name:find(filter, 1, true) then
    goto continue
  end
  if t.cloud and not FAKE then
    say('FAIL %s: the fake cloud is not running (AUMATRON_FAKE_CLOUD)', t.name)
    failed = failed + 1
    goto continue
  end
  do
    -- Each test gets its own config and data folders: its own ledger and config file.
    local base = ('%s/../test-%d'):format(WORK, index)
    Child.env = { XDG_CONFIG_HOME = base .. '/config', XDG_DATA_HOME = base .. '/data' }
    vim.fn.mkdir(Child.env.XDG_CONFIG_HOME, 'p')
    vim.fn.mkdir(Child.env.XDG_DATA_HOME, 'p')
    local started = uv.hrtime()
    local ok, err = xpcall(t.fn, debug.traceback)
    for _, c in ipairs(children) do
      if not ok then
        pcall(function()
          say('  messages in that Neovim: %s', vim.inspect(c:notes()))
        end)
      end
      c:stop()
    end
    children = {}
    local seconds = (uv.hrtime() - started) / 1e9
    if ok then
      passed = passed + 1
      say('ok   %s (%.1f s)', t.name, seconds)
    else
      failed = failed + 1
      say('FAIL %s (%.1f s)\n  %s', t.name, seconds, tostring(err):gsub('\n', '\n  '))
    end
  end
  ::continue::
end

say('%d passed, %d failed', passed, failed)
os.exit(failed == 0 and 0 or 1)
