--- The `:Aumatron` command: its subcommands and their completion.
---
---   :[range]Aumatron summarise|explain|draft [local|cloud|<provider>]
---   :Aumatron cancel [task-id]
---   :Aumatron key set|remove <provider>
---   :Aumatron budget
---   :Aumatron cap <usd>

local M = {}

local lsp_client = require('aumatron.client')

M.subcommands = { 'summarise', 'explain', 'draft', 'cancel', 'key', 'budget', 'cap' }

local is_task = { summarise = true, explain = true, draft = true }

--- Provider ids the server reported, or the default ones before it has.
---@return string[]
function M.provider_ids()
  local state = require('aumatron.budget').state
  local ids = {}
  for _, provider in ipairs(state and state.providers or {}) do
    if type(provider.id) == 'string' then
      table.insert(ids, provider.id)
    end
  end
  if #ids == 0 then
    ids = { 'openai', 'anthropic' }
  end
  return ids
end

--- Runs a task command on the range the command was given.
---@param kind string
---@param target string?
---@param command table the user command's arguments
local function run_task(kind, target, command)
  local bufnr = vim.api.nvim_get_current_buf()
  local client, err = lsp_client.for_buffer(bufnr)
  if not client then
    lsp_client.notify(err --[[@as string]], vim.log.levels.ERROR)
    return
  end
  -- The range is read first: the draft prompt below must not change it.
  local range = require('aumatron.range').for_command(bufnr, command, client.offset_encoding)
  local start = function(instruction)
    require('aumatron.tasks').start(kind, {
      bufnr = bufnr,
      range = range,
      target = target,
      instruction = instruction,
    })
  end
  if kind ~= 'draft' then
    start(nil)
    return
  end
  vim.ui.input({ prompt = 'Draft what? (empty: continue the text) ' }, function(instruction)
    if instruction == nil then
      return
    end
    instruction = vim.trim(instruction)
    start(instruction ~= '' and instruction or nil)
  end)
end

---@param command table the argument of a `nvim_create_user_command` callback
function M.run(command)
  local args = command.fargs
  local sub = args[1]
  if not sub then
    lsp_client.notify('usage: :Aumatron ' .. table.concat(M.subcommands, '|'), vim.log.levels.ERROR)
    return
  end
  if is_task[sub] then
    if #args > 2 then
      lsp_client.notify(
        ('usage: :Aumatron %s [local|cloud|<provider>]'):format(sub),
        vim.log.levels.ERROR
      )
      return
    end
    run_task(sub, args[2], command)
  elseif sub == 'cancel' then
    require('aumatron.tasks').cancel(args[2])
  elseif sub == 'key' then
    local action, provider = args[2], args[3]
    if action == 'set' then
      require('aumatron.keys').set(provider)
    elseif action == 'remove' then
      require('aumatron.keys').remove(provider)
    else
      lsp_client.notify('usage: :Aumatron key set|remove <provider>', vim.log.levels.ERROR)
    end
  elseif sub == 'budget' then
    require('aumatron.budget').show()
  elseif sub == 'cap' then
    local usd = tonumber(args[2])
    if not usd or usd < 0 then
      lsp_client.notify(
        'usage: :Aumatron cap <dollars>, for example :Aumatron cap 5',
        vim.log.levels.ERROR
      )
      return
    end
    require('aumatron.budget').set_cap(usd)
  else
    lsp_client.notify(
      ('unknown subcommand %q; use one of %s'):format(sub, table.concat(M.subcommands, ', ')),
      vim.log.levels.ERROR
    )
  end
end

---@param lead string
---@param candidates string[]
---@return string[]
local function matching(lead, candidates)
  return vim.tbl_filter(function(candidate)
    return vim.startswith(candidate, lead)
  end, candidates)
end

--- Completion for `:Aumatron`.
---@param lead string the word being completed
---@param line string the whole command line
---@return string[]
function M.complete(lead, line)
  -- Drop a leading range and the command name, then count the finished words.
  local rest = line:gsub('^.-Aumatron!?%s*', '', 1)
  local words = vim.split(rest, '%s+', { trimempty = true })
  if lead ~= '' then
    table.remove(words)
  end
  local n = #words
  if n == 0 then
    return matching(lead, M.subcommands)
  end
  local sub = words[1]
  if is_task[sub] and n == 1 then
    return matching(lead, vim.list_extend({ 'local', 'cloud' }, M.provider_ids()))
  elseif sub == 'key' and n == 1 then
    return matching(lead, { 'set', 'remove' })
  elseif sub == 'key' and n == 2 then
    return matching(lead, M.provider_ids())
  elseif sub == 'cancel' and n == 1 then
    return matching(lead, require('aumatron.tasks').running_ids())
  end
  return {}
end

return M
