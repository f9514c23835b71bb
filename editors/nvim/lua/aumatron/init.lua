--- aumatron for Neovim: the public Lua API. `setup()` is optional; the server's
--- client configuration lives in `lsp/aumatron.lua` and `:Aumatron` in
--- `plugin/aumatron.lua`.

local M = {}

local function map_keys(keymaps)
  local config = require('aumatron.config')
  local maps = keymaps == true and config.default_keymaps
    or vim.tbl_extend('force', config.default_keymaps, keymaps)
  for action, lhs in pairs(maps) do
    if lhs then
      local modes = (action == 'cancel' or action == 'budget') and 'n' or { 'n', 'x' }
      vim.keymap.set(modes, lhs, '<Cmd>Aumatron ' .. action .. '<CR>', {
        desc = 'Aumatron: ' .. action,
        silent = true,
      })
    end
  end
end

--- Sets the plugin's options and passes `cmd` and `settings` to
--- `vim.lsp.config('aumatron', ...)`; then enables the server unless
--- `enable = false`.
---@param opts table?
function M.setup(opts)
  local config = require('aumatron.config')
  local options = config.apply(opts)
  local lsp_config = config.lsp_config()
  if next(lsp_config) ~= nil then
    vim.lsp.config('aumatron', lsp_config)
  end
  if options.keymaps then
    map_keys(options.keymaps)
  end
  if options.enable then
    vim.lsp.enable('aumatron')
  end
end

--- The spend against the cap and the state, for any statusline: `AI $1.23/$10`.
--- Empty until the server has reported its budget.
---@return string
function M.statusline()
  return require('aumatron.budget').statusline()
end

--- The highlight group for the budget's state, for coloring the statusline text.
---@return string
function M.statusline_highlight()
  return require('aumatron.budget').highlight()
end

--- The last budget state the server reported (see the protocol), or nil.
---@return table?
function M.budget()
  return require('aumatron.budget').state
end

---@param kind string
---@param opts table?
local function run(kind, opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  require('aumatron.tasks').start(kind, {
    bufnr = bufnr,
    range = opts.range,
    target = opts.target,
    instruction = opts.instruction,
  })
end

--- Summarises `opts.range` (an LSP range; nil: the whole buffer).
---@param opts { bufnr: integer?, range: lsp.Range?, target: string? }?
function M.summarise(opts)
  run('summarise', opts)
end

--- Explains `opts.range` (an LSP range; nil: the whole buffer).
---@param opts { bufnr: integer?, range: lsp.Range?, target: string? }?
function M.explain(opts)
  run('explain', opts)
end

--- Drafts after `opts.range`, following `opts.instruction` when given.
---@param opts { bufnr: integer?, range: lsp.Range?, target: string?, instruction: string? }?
function M.draft(opts)
  run('draft', opts)
end

--- Cancels a task by id, or the newest running task.
---@param id string?
function M.cancel(id)
  require('aumatron.tasks').cancel(id)
end

return M
