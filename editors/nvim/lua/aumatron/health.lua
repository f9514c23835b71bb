--- `:checkhealth aumatron`: is the server there and which version, does it find its
--- model (asked of the server's own `doctor`), which providers have keys, and the
--- budget.

local M = {}

local health = vim.health

---@return string[]? cmd
---@return table? config
local function server_command()
  local ok, config = pcall(function()
    return vim.lsp.config.aumatron
  end)
  if not ok or type(config) ~= 'table' then
    return nil, nil
  end
  return type(config.cmd) == 'table' and config.cmd or nil, config
end

---@param config table?
---@return table<string, string>?
local function doctor_env(config)
  local env = vim.deepcopy(config and config.cmd_env or {})
  -- The doctor reads the config file but not the editor's settings, so a model set
  -- in `settings` is handed to it the way the server would find it.
  local settings = config and config.settings and config.settings.aumatron
  local model = type(settings) == 'table'
    and type(settings['local']) == 'table'
    and settings['local'].modelPath
  if type(model) == 'string' and model ~= '' then
    env.AUMATRON_MODEL = vim.fn.expand(model)
  end
  return next(env) and env or nil
end

local function check_neovim()
  health.start('aumatron: Neovim')
  local version = vim.version()
  local text = ('%d.%d.%d'):format(version.major, version.minor, version.patch)
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. text)
  else
    health.error('Neovim ' .. text .. ' is too old', { 'aumatron needs Neovim 0.11 or later' })
  end
end

---@return string? executable
---@return table? config
local function check_server()
  health.start('aumatron: server')
  local cmd, config = server_command()
  if not config then
    health.error('no LSP config named "aumatron"', {
      'Put this plugin on the runtimepath; it provides lsp/aumatron.lua',
    })
    return nil, nil
  end
  if not cmd then
    health.info('the server command is a function; it cannot be checked here')
    return nil, config
  end
  local executable = vim.fn.exepath(cmd[1])
  if executable == '' then
    health.error(('server not found: %s'):format(cmd[1]), {
      'Build it with `cargo build --release` and put target/release/aumatron-lsp on your PATH',
      "or give its path: require('aumatron').setup{ cmd = { '/path/to/aumatron-lsp' } }",
    })
    return nil, config
  end
  local result = vim.system({ executable, '--version' }, { text = true }):wait(10000)
  if result.code == 0 then
    health.ok(('server found: %s (%s)'):format(executable, vim.trim(result.stdout or '')))
  else
    health.error(('%s --version failed: %s'):format(executable, vim.trim(result.stderr or '')))
    return nil, config
  end
  if vim.lsp.is_enabled('aumatron') then
    health.ok('enabled with vim.lsp.enable("aumatron")')
  else
    health.warn('not enabled', {
      "Call vim.lsp.enable('aumatron') or require('aumatron').setup{} in your config",
    })
  end
  return executable, config
end

---@param executable string
---@param config table?
local function check_model(executable, config)
  health.start('aumatron: model and folders (aumatron-lsp doctor)')
  local ok, system = pcall(
    vim.system,
    { executable, 'doctor' },
    { text = true, env = doctor_env(config) }
  )
  if not ok then
    health.error('could not run the doctor: ' .. tostring(system))
    return
  end
  local result = system:wait(120000)
  local seen = false
  for _, line in ipairs(vim.split(result.stdout or '', '\n', { trimempty = true })) do
    local mark, text = line:match('^(%S+)%s+(.*)$')
    if mark == 'ok' then
      health.ok(text)
      seen = true
    elseif mark == 'FIX' then
      health.error(text)
      seen = true
    elseif line ~= '' then
      health.info(line)
    end
  end
  if not seen then
    health.error(
      ('the doctor said nothing (exit %s): %s'):format(result.code, vim.trim(result.stderr or ''))
    )
  end
end

local function check_budget()
  health.start('aumatron: keys and budget')
  local client = vim.lsp.get_clients({ name = 'aumatron' })[1]
  if not client then
    health.info('aumatron-lsp is not running here; open a file to see keys and the budget')
    return
  end
  if not require('aumatron.client').supports_budget(client) then
    health.warn('this aumatron-lsp does not report keys or a budget; update the server')
    return
  end
  local response, err = client:request_sync('aumatron/budget', nil, 5000)
  if not response or response.err then
    health.error(
      'the server did not answer aumatron/budget: ' .. tostring(err or vim.inspect(response.err))
    )
    return
  end
  local state = response.result
  local format_usd = require('aumatron.budget').format_usd
  for _, provider in ipairs(state.providers or {}) do
    local name = ('%s (%s %s)'):format(
      provider.id,
      provider.name or provider.id,
      provider.model or '?'
    )
    if provider['local'] then
      health.ok(name .. ': local, needs no key')
    elseif provider.keyState == 'rejected' then
      health.warn(name .. ': the provider rejected its key', {
        (':Aumatron key set %s'):format(provider.id),
      })
    elseif provider.hasKey then
      health.ok(name .. ': key stored')
    else
      health.info(name .. (': no key (:Aumatron key set %s to add one)'):format(provider.id))
    end
  end
  local line = ('spent %s of %s this period, %s reserved, %s left'):format(
    format_usd(state.spentUsd),
    format_usd(state.capUsd),
    format_usd(state.reservedUsd),
    format_usd(state.remainingUsd)
  )
  if state.state == 'ok' then
    health.ok('budget ok: ' .. line)
  elseif state.state == 'local-only' then
    health.info('local only (cloud.enabled = false): ' .. line)
  else
    health.warn(('budget %s: %s'):format(state.state, line), {
      'Raise the cap with :Aumatron cap <dollars>, or wait for the next period',
    })
  end
end

function M.check()
  check_neovim()
  local executable, config = check_server()
  if executable then
    check_model(executable, config)
  end
  check_budget()
end

return M
