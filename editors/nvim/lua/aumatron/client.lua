--- Finding the aumatron client and talking to it: the capabilities the plugin
--- declares, the handlers for the server's notifications, and `workspace/executeCommand`
--- with clear messages when the server is missing or too old.

local M = {}

M.name = 'aumatron'

--- Neovim's own capabilities plus the opt-in to streamed answers. Declaring
--- `experimental.aumatron` also asks for `aumatron/budgetDidChange`.
---@return lsp.ClientCapabilities
function M.capabilities()
  return vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), {
    experimental = { aumatron = { taskOutput = true } },
  })
end

--- Handlers for the server's notifications; the modules load on first use.
---@return table<string, lsp.Handler>
function M.handlers()
  return {
    ['aumatron/taskDidChange'] = function(_, params, ctx)
      require('aumatron.tasks').on_task_did_change(params, ctx)
    end,
    ['aumatron/budgetDidChange'] = function(_, params)
      require('aumatron.budget').on_budget(params)
    end,
  }
end

---@param bufnr integer?
---@return vim.lsp.Client?
function M.get(bufnr)
  local filter = { name = M.name }
  if bufnr then
    filter.bufnr = bufnr
  end
  return vim.lsp.get_clients(filter)[1]
end

--- The client for a task on `bufnr`. A buffer the client does not follow yet (one
--- with no filetype, say) is attached, so the server sees its current text.
---@param bufnr integer
---@return vim.lsp.Client? client
---@return string? error
function M.for_buffer(bufnr)
  local client = M.get(bufnr)
  if client then
    return client
  end
  client = M.get()
  if not client then
    return nil,
      'aumatron-lsp is not running for this buffer: call vim.lsp.enable("aumatron") '
        .. 'or require("aumatron").setup{} and see :checkhealth aumatron'
  end
  if vim.bo[bufnr].buftype ~= '' then
    return nil, 'this buffer is not a file; run the command in a file buffer'
  end
  vim.lsp.buf_attach_client(bufnr, client.id)
  return client
end

--- Any running aumatron client, for commands that concern no buffer.
---@return vim.lsp.Client? client
---@return string? error
function M.any()
  local client = M.get(vim.api.nvim_get_current_buf()) or M.get()
  if client then
    return client
  end
  return nil,
    'aumatron-lsp is not running: open a file with the server enabled '
      .. '(vim.lsp.enable("aumatron")) and try again'
end

---@param client vim.lsp.Client
---@param command string
---@return boolean
function M.supports_command(client, command)
  local provider = client.server_capabilities and client.server_capabilities.executeCommandProvider
  local commands = type(provider) == 'table' and provider.commands or {}
  return vim.list_contains(commands, command)
end

---@param client vim.lsp.Client
---@return boolean
function M.supports_budget(client)
  local experimental = client.server_capabilities and client.server_capabilities.experimental
  local ours = type(experimental) == 'table' and experimental.aumatron or nil
  return type(ours) == 'table' and ours.budget == true
end

--- Sends `workspace/executeCommand`. `on_result(result)` runs on success; errors are
--- reported with `vim.notify` and passed to `on_error` when given.
---@param client vim.lsp.Client
---@param command string
---@param argument table?
---@param on_result fun(result: any)?
---@param opts { bufnr: integer?, on_error: fun(message: string)?, quiet_params: boolean? }?
function M.execute(client, command, argument, on_result, opts)
  opts = opts or {}
  local function fail(message)
    M.notify(message, vim.log.levels.ERROR)
    if opts.on_error then
      opts.on_error(message)
    end
  end
  if not M.supports_command(client, command) then
    fail(('this aumatron-lsp does not offer %s; update the server'):format(command))
    return
  end
  local params = { command = command, arguments = argument and { argument } or nil }
  local function handler(err, result)
    if err then
      fail(err.message or tostring(err))
      return
    end
    if on_result then
      on_result(result)
    end
  end
  if opts.quiet_params then
    M.with_quiet_log(function()
      client:request('workspace/executeCommand', params, handler, opts.bufnr)
    end)
  else
    client:request('workspace/executeCommand', params, handler, opts.bufnr)
  end
end

--- Runs `fn` with the LSP log at INFO or above. At DEBUG and TRACE Neovim writes
--- every request's parameters to lsp.log; an API key must never land there. The
--- request is written to the server before `client:request` returns, so raising the
--- level around the call is enough.
---@param fn fun()
function M.with_quiet_log(fn)
  local log = vim.lsp.log
  local level = log.get_level()
  local quiet = vim.log.levels.INFO
  if level < quiet then
    log.set_level(quiet)
  end
  local ok, err = pcall(fn)
  if level < quiet then
    log.set_level(level)
  end
  if not ok then
    error(err, 0)
  end
end

---@param message string
---@param level integer?
function M.notify(message, level)
  vim.notify('Aumatron: ' .. message, level or vim.log.levels.INFO, { title = 'Aumatron' })
end

return M
