--- The plugin's own options (the output window, key maps) and how `setup()` hands the
--- server's command and settings to `vim.lsp.config`. The server's settings are the
--- user's, passed through untouched: the plugin adds no defaults of its own, so the
--- user's `~/.config/aumatron/config.toml` is never silently overridden.

local M = {}

---@class aumatron.WindowOptions
---@field layout 'float'|'split'|'vsplit' where answers are shown
---@field width number columns, or a fraction of the editor's width when below 1
---@field height number lines, or a fraction of the editor's height when below 1
---@field border string|string[] the float's border (see 'winborder')
---@field enter boolean move the cursor into the window when a task starts

---@class aumatron.Options
---@field cmd string[]? the server command; default `{ 'aumatron-lsp' }`
---@field settings table? the server's settings (camelCase, as in its config file)
---@field window aumatron.WindowOptions
---@field keymaps boolean|table<string, string|false> `true` for the default maps
---@field enable boolean call `vim.lsp.enable('aumatron')` from `setup()`

---@type aumatron.Options
M.defaults = {
  cmd = nil,
  settings = nil,
  window = {
    layout = 'float',
    width = 0.45,
    height = 0.6,
    border = 'rounded',
    enter = false,
  },
  keymaps = false,
  enable = true,
}

--- The default key maps, used when `keymaps = true`; each works on the current line
--- in Normal mode and on the selection in Visual mode.
M.default_keymaps = {
  summarise = '<leader>as',
  explain = '<leader>ae',
  draft = '<leader>ad',
  cancel = '<leader>ac',
  budget = '<leader>ab',
}

---@type aumatron.Options
M.options = vim.deepcopy(M.defaults)

---@param opts table?
---@return aumatron.Options
function M.apply(opts)
  opts = opts or {}
  vim.validate('cmd', opts.cmd, 'table', true)
  vim.validate('settings', opts.settings, 'table', true)
  vim.validate('window', opts.window, 'table', true)
  vim.validate('keymaps', opts.keymaps, { 'boolean', 'table' }, true)
  vim.validate('enable', opts.enable, 'boolean', true)
  if opts.window and opts.window.layout then
    vim.validate('window.layout', opts.window.layout, function(layout)
      return layout == 'float' or layout == 'split' or layout == 'vsplit'
    end, "'float', 'split' or 'vsplit'")
  end
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  -- A list must replace the default, not merge into it index by index.
  M.options.cmd = opts.cmd
  M.options.settings = opts.settings
  return M.options
end

--- The part of the LSP client config that `setup()` controls.
---@return vim.lsp.Config
function M.lsp_config()
  local config = {}
  if M.options.cmd then
    config.cmd = M.options.cmd
  end
  local settings = M.options.settings
  if settings and next(settings) ~= nil then
    -- The server reads the same object from `initializationOptions` (before its
    -- first `workspace/configuration` pull) and from the section `aumatron`.
    config.init_options = settings
    config.settings = { aumatron = settings }
  end
  return config
end

return M
