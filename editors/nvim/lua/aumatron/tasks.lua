--- Tasks: starting summarise, explain and draft on a range, following them through
--- `aumatron/taskDidChange`, and cancelling them. A task is known by the id the
--- server gave it; tasks started from the code-action menu are followed too, since
--- with streaming on their answers arrive only as notifications.

local window = require('aumatron.window')
local lsp_client = require('aumatron.client')

local M = {}

M.kinds = { 'summarise', 'explain', 'draft' }

local titles = { summarise = 'Summarise', explain = 'Explain', draft = 'Draft' }

---@class aumatron.Task
---@field key string client id and task id, unique across servers
---@field id string the server's task id
---@field client_id integer
---@field kind string summarise, explain or draft
---@field title string
---@field status string running, done, failed or cancelled
---@field provider string?
---@field model string?
---@field input_tokens integer?
---@field output_tokens integer?
---@field cost_usd number?
---@field text string the answer so far
---@field error string?
---@field updates integer notifications received
---@field buf integer? the output buffer
---@field source_buf integer? the buffer the task runs on, when started here

---@type table<string, aumatron.Task>
M.by_key = {}
---@type string[] keys, oldest first
M.order = {}

local KEEP = 20

---@param client_id integer
---@param id string
---@return string
local function key_of(client_id, id)
  return client_id .. '/' .. id
end

local function forget_old()
  while #M.order > KEEP do
    local key = table.remove(M.order, 1)
    local task = M.by_key[key]
    M.by_key[key] = nil
    if task and task.buf and vim.api.nvim_buf_is_valid(task.buf) then
      local shown = window.win
        and vim.api.nvim_win_is_valid(window.win)
        and vim.api.nvim_win_get_buf(window.win) == task.buf
      if not shown then
        vim.api.nvim_buf_delete(task.buf, { force = true })
      end
    end
  end
end

---@param client_id integer
---@param id string
---@param kind string
---@return aumatron.Task task
---@return boolean created
local function ensure(client_id, id, kind)
  local key = key_of(client_id, id)
  local task = M.by_key[key]
  if task then
    return task, false
  end
  task = {
    key = key,
    id = id,
    client_id = client_id,
    kind = kind,
    title = titles[kind] or kind,
    status = 'running',
    text = '',
    updates = 0,
  }
  M.by_key[key] = task
  table.insert(M.order, key)
  forget_old()
  return task, true
end

---@param task aumatron.Task
local function announce(task)
  vim.api.nvim_exec_autocmds('User', {
    pattern = 'AumatronTask',
    modeline = false,
    data = {
      id = task.id,
      client_id = task.client_id,
      kind = task.kind,
      status = task.status,
      provider = task.provider,
      model = task.model,
      input_tokens = task.input_tokens,
      output_tokens = task.output_tokens,
      cost_usd = task.cost_usd,
      error = task.error,
    },
  })
end

--- Handles `aumatron/taskDidChange`.
---@param params table
---@param ctx lsp.HandlerContext
function M.on_task_did_change(params, ctx)
  if type(params) ~= 'table' or type(params.taskId) ~= 'string' then
    return
  end
  local task, created = ensure(ctx.client_id, params.taskId, params.kind or 'task')
  task.updates = task.updates + 1
  task.status = params.status or task.status
  task.provider = params.provider or task.provider
  task.model = params.model or task.model
  task.input_tokens = params.inputTokens or task.input_tokens
  task.output_tokens = params.outputTokens or task.output_tokens
  task.cost_usd = params.costUsd or task.cost_usd
  if created then
    window.show(task)
  end

  if type(params.delta) == 'string' and params.delta ~= '' then
    task.text = task.text .. params.delta
    window.append(task, params.delta)
  end
  if task.status == 'done' then
    if type(params.text) == 'string' then
      task.text = params.text
    end
    window.set_text(task, task.text)
  elseif task.status == 'failed' then
    -- The server also reports the failure with window/showMessage.
    task.error = params.error or 'the task failed'
    window.add_note(task, '**Failed:** ' .. task.error)
  elseif task.status == 'cancelled' then
    window.add_note(task, '*Cancelled.*')
  else
    window.refresh(task)
  end
  announce(task)
end

---@class aumatron.StartOptions
---@field bufnr integer
---@field range lsp.Range? nil: the whole document
---@field target string? "local", "cloud" or a provider id
---@field instruction string? what to draft

--- Starts a task; the window opens when the server answers.
---@param kind string
---@param opts aumatron.StartOptions
function M.start(kind, opts)
  local client, err = lsp_client.for_buffer(opts.bufnr)
  if not client then
    lsp_client.notify(err --[[@as string]], vim.log.levels.ERROR)
    return
  end
  local argument = {
    uri = vim.uri_from_bufnr(opts.bufnr),
    range = opts.range,
    target = opts.target,
    instruction = opts.instruction,
  }
  lsp_client.execute(client, 'aumatron.' .. kind, argument, function(result)
    if type(result) ~= 'table' or type(result.taskId) ~= 'string' then
      return
    end
    local task, created = ensure(client.id, result.taskId, kind)
    task.source_buf = opts.bufnr
    if created then
      window.show(task)
      announce(task)
    end
  end, { bufnr = opts.bufnr })
end

--- The newest task that is still running.
---@return aumatron.Task?
function M.latest_running()
  for i = #M.order, 1, -1 do
    local task = M.by_key[M.order[i]]
    if task and task.status == 'running' then
      return task
    end
  end
end

--- The newest task, whatever its state.
---@return aumatron.Task?
function M.latest()
  local key = M.order[#M.order]
  return key and M.by_key[key] or nil
end

--- Cancels a task: by its id (`task-3`), or the newest running one.
---@param id string?
function M.cancel(id)
  local task
  if id then
    for i = #M.order, 1, -1 do
      local candidate = M.by_key[M.order[i]]
      if candidate and (candidate.id == id or candidate.key == id) then
        task = candidate
        break
      end
    end
    if not task then
      lsp_client.notify(('no task %s'):format(id), vim.log.levels.WARN)
      return
    end
  else
    task = M.latest_running()
    if not task then
      lsp_client.notify('no task is running', vim.log.levels.WARN)
      return
    end
  end
  local client = vim.lsp.get_client_by_id(task.client_id)
  if not client then
    lsp_client.notify('the server that ran this task has stopped', vim.log.levels.WARN)
    return
  end
  lsp_client.execute(client, 'aumatron.cancel', { taskId = task.id }, function(result)
    if type(result) == 'table' and result.cancelled == false then
      lsp_client.notify(('%s had already ended'):format(task.id))
    end
  end)
end

--- Ids of running tasks, newest first (for completion).
---@return string[]
function M.running_ids()
  local ids = {}
  for i = #M.order, 1, -1 do
    local task = M.by_key[M.order[i]]
    if task and task.status == 'running' then
      table.insert(ids, task.id)
    end
  end
  return ids
end

return M
