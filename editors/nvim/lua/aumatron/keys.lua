--- API keys: read with `inputsecret()`, sent once to the server with
--- `aumatron.setKey` (which keeps them in the operating system's keyring), and
--- never stored, echoed or logged here.

local lsp_client = require('aumatron.client')

local M = {}

---@param provider string?
---@return boolean
local function check_provider(provider)
  if not provider or provider == '' then
    lsp_client.notify(
      'name the provider, for example :Aumatron key set openai',
      vim.log.levels.ERROR
    )
    return false
  end
  return true
end

--- The running server's client, once `provider` is checked; nil (after saying
--- why) when there is none or the provider is wrong.
---@param provider string?
---@return vim.lsp.Client?
local function client_for(provider)
  if not check_provider(provider) then
    return nil
  end
  local client, err = lsp_client.any()
  if not client then
    lsp_client.notify(err --[[@as string]], vim.log.levels.ERROR)
  end
  return client
end

--- `:Aumatron key set <provider>`.
---@param provider string?
function M.set(provider)
  local client = client_for(provider)
  if not client then
    return
  end
  if not lsp_client.supports_command(client, 'aumatron.setKey') then
    lsp_client.notify(
      'this aumatron-lsp cannot store keys; update the server',
      vim.log.levels.ERROR
    )
    return
  end
  -- inputsecret() shows stars and keeps the answer out of the input history.
  local ok, key =
    pcall(vim.fn.inputsecret, ('API key for %s (stored in the system keyring): '):format(provider))
  vim.cmd('redraw')
  if not ok or type(key) ~= 'string' or vim.trim(key) == '' then
    lsp_client.notify('no key entered; nothing changed')
    return
  end
  lsp_client.execute(
    client,
    'aumatron.setKey',
    { provider = provider, key = vim.trim(key) },
    function(result)
      local state = type(result) == 'table' and result.keyState or 'ok'
      lsp_client.notify(('key for %s stored in the system keyring (%s)'):format(provider, state))
    end,
    { quiet_params = true }
  )
end

--- `:Aumatron key remove <provider>`.
---@param provider string?
function M.remove(provider)
  local client = client_for(provider)
  if not client then
    return
  end
  lsp_client.execute(client, 'aumatron.removeKey', { provider = provider }, function(result)
    if type(result) == 'table' and result.removed == false then
      lsp_client.notify(('there was no key for %s'):format(provider))
    else
      lsp_client.notify(('key for %s removed from the system keyring'):format(provider))
    end
  end)
end

return M
