-- The init file of each Neovim under test: the plugin on the runtimepath, set up
-- as a user would, plus a recorder (`_G.T`) the test driver reads over RPC.
-- Settings for the server come from $AUMATRON_TEST_SETTINGS (JSON).
local plugin = assert(vim.env.AUMATRON_NVIM_PLUGIN, 'AUMATRON_NVIM_PLUGIN is not set')
vim.opt.runtimepath:prepend(plugin)
vim.o.swapfile = false
vim.o.shortmess = vim.o.shortmess .. 'I'

_G.T = { notes = {}, tasks = {}, budgets = 0, snapshots = {} }

-- Messages the plugin and the server show, for assertions.
vim.notify = function(message, level)
  table.insert(T.notes, { message = message, level = level or vim.log.levels.INFO })
end

--- The output window as the user sees it: whether it floats, and its text.
function T.output()
  local win = require('aumatron.window').win
  if not win or not vim.api.nvim_win_is_valid(win) then
    return nil
  end
  local buf = vim.api.nvim_win_get_buf(win)
  local config = vim.api.nvim_win_get_config(win)
  return {
    floating = config.relative ~= nil and config.relative ~= '',
    footer = config.footer,
    text = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n'),
    task = vim.b[buf].aumatron_task,
  }
end

--- The state of the newest task the recorder saw.
function T.last_task()
  return T.tasks[#T.tasks]
end

vim.api.nvim_create_autocmd('User', {
  pattern = 'AumatronTask',
  callback = function(event)
    local data = event.data
    local task = require('aumatron.tasks').by_key[data.client_id .. '/' .. data.id]
    local record =
      vim.tbl_extend('force', data, { text = task and task.text, updates = task and task.updates })
    local last = T.tasks[#T.tasks]
    if last and last.id == data.id then
      T.tasks[#T.tasks] = record
    else
      table.insert(T.tasks, record)
    end
    if data.status == 'running' then
      -- What the window shows at this moment, to prove that text arrives while the
      -- task still runs.
      table.insert(T.snapshots, { status = data.status, output = T.output() })
    end
  end,
})

vim.api.nvim_create_autocmd('User', {
  pattern = 'AumatronBudget',
  callback = function()
    T.budgets = T.budgets + 1
  end,
})

-- A test can make Neovim offer one position encoding only, so that the server must
-- use it.
if vim.env.AUMATRON_TEST_ENCODING then
  vim.lsp.config('aumatron', {
    capabilities = { general = { positionEncodings = { vim.env.AUMATRON_TEST_ENCODING } } },
  })
end

local settings = vim.json.decode(vim.env.AUMATRON_TEST_SETTINGS or '{}')
require('aumatron').setup({
  cmd = { (assert(vim.env.AUMATRON_LSP_BIN, 'AUMATRON_LSP_BIN is not set')) },
  settings = next(settings) and settings or nil,
  window = { layout = vim.env.AUMATRON_TEST_LAYOUT or 'float' },
  keymaps = vim.env.AUMATRON_TEST_KEYMAPS == '1',
})

-- Every task the plugin starts, with the range it computed.
T.starts = {}
local tasks = require('aumatron.tasks')
local start = tasks.start
tasks.start = function(kind, opts)
  table.insert(T.starts, { kind = kind, range = opts.range, target = opts.target })
  return start(kind, opts)
end
