--- The output window: one scratch Markdown buffer per task, shown in a floating
--- window (or a split) that follows the newest task. Text is appended as it streams
--- and replaced by the cleaned answer when the task ends. The window never takes
--- the cursor unless `window.enter` is set.

local M = {}

---@type integer? the window that shows answers, while it is open
M.win = nil

local namespace = vim.api.nvim_create_namespace('aumatron')

---@param size number
---@param total integer
---@return integer
local function measure(size, total)
  if size < 1 then
    size = math.floor(total * size)
  end
  return math.max(1, math.min(math.floor(size), total))
end

---@param task aumatron.Task
---@return string
local function title(task)
  local where = task.provider and task.provider ~= 'local' and task.provider or 'local'
  if task.model and task.model ~= '' then
    where = where .. ' ' .. task.model
  end
  return (' Aumatron: %s (%s) '):format(task.title, where)
end

---@param task aumatron.Task
---@return string
function M.status_line(task)
  local parts = { task.status }
  if task.kind == 'draft' and task.status == 'running' then
    parts[1] = 'drafting, inserted when done'
  elseif task.kind == 'draft' and task.status == 'done' then
    parts[1] = 'inserted into the buffer'
  end
  if task.input_tokens then
    table.insert(parts, ('%d in, %d out'):format(task.input_tokens, task.output_tokens or 0))
  end
  if task.cost_usd then
    table.insert(parts, require('aumatron.budget').format_usd(task.cost_usd))
  end
  if task.status == 'running' then
    table.insert(parts, ':Aumatron cancel')
  end
  return ' ' .. table.concat(parts, ' · ') .. ' '
end

---@param task aumatron.Task
---@return integer bufnr
local function ensure_buffer(task)
  if task.buf and vim.api.nvim_buf_is_valid(task.buf) then
    return task.buf
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].filetype = 'markdown'
  vim.bo[buf].modifiable = false
  pcall(vim.api.nvim_buf_set_name, buf, ('aumatron://%s/%s'):format(task.kind, task.id))
  vim.b[buf].aumatron_task = task.id
  vim.keymap.set('n', 'q', '<Cmd>close<CR>', { buffer = buf, desc = 'Close the Aumatron window' })
  vim.keymap.set('n', '<C-c>', function()
    require('aumatron.tasks').cancel(task.id)
  end, { buffer = buf, desc = 'Cancel this Aumatron task' })
  task.buf = buf
  return buf
end

---@return integer? win
local function open_window(buf, task)
  local options = require('aumatron.config').options.window
  local enter = options.enter == true
  local win
  if options.layout == 'float' then
    local width = measure(options.width, vim.o.columns - 4)
    local height = measure(options.height, vim.o.lines - 4)
    local config = {
      relative = 'editor',
      anchor = 'NE',
      row = 1,
      col = vim.o.columns - 1,
      width = width,
      height = height,
      style = 'minimal',
      border = options.border,
      focusable = true,
      zindex = 45,
    }
    if options.border ~= 'none' then
      -- A title and a footer need a border to sit on.
      config.title = title(task)
      config.title_pos = 'center'
      config.footer = M.status_line(task)
      config.footer_pos = 'right'
    end
    win = vim.api.nvim_open_win(buf, enter, config)
  else
    local vertical = options.layout == 'vsplit'
    local size = vertical and measure(options.width, vim.o.columns)
      or measure(options.height, vim.o.lines)
    win = vim.api.nvim_open_win(buf, enter, {
      split = vertical and 'right' or 'below',
      win = -1,
      width = vertical and size or nil,
      height = not vertical and size or nil,
    })
  end
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].conceallevel = 2
  vim.wo[win].spell = false
  return win
end

--- Updates the window's title and status for `task`.
---@param task aumatron.Task
local function decorate(task)
  local win = M.win
  if not win or not vim.api.nvim_win_is_valid(win) then
    return
  end
  if vim.api.nvim_win_get_buf(win) ~= task.buf then
    return
  end
  local config = vim.api.nvim_win_get_config(win)
  local floating = config.relative and config.relative ~= ''
  if floating and require('aumatron.config').options.window.border ~= 'none' then
    vim.api.nvim_win_set_config(win, {
      title = title(task),
      title_pos = 'center',
      footer = M.status_line(task),
      footer_pos = 'right',
    })
  else
    vim.wo[win].winbar = (title(task) .. '·' .. M.status_line(task)):gsub('%%', '%%%%')
  end
end

--- Shows `task` in the output window, opening it if needed.
---@param task aumatron.Task
function M.show(task)
  local buf = ensure_buffer(task)
  if M.win and vim.api.nvim_win_is_valid(M.win) then
    if vim.api.nvim_win_get_buf(M.win) ~= buf then
      vim.api.nvim_win_set_buf(M.win, buf)
    end
  else
    M.win = open_window(buf, task)
  end
  decorate(task)
end

---@param buf integer
---@param fn fun()
local function edit(buf, fn)
  vim.bo[buf].modifiable = true
  local ok, err = pcall(fn)
  vim.bo[buf].modifiable = false
  if not ok then
    error(err, 0)
  end
end

--- Keeps the end of the answer in view while it streams, unless the user moved the
--- cursor into the window to read.
---@param buf integer
local function follow(buf)
  local win = M.win
  if not win or not vim.api.nvim_win_is_valid(win) or vim.api.nvim_win_get_buf(win) ~= buf then
    return
  end
  if vim.api.nvim_get_current_win() == win then
    return
  end
  local last = vim.api.nvim_buf_line_count(buf)
  pcall(vim.api.nvim_win_set_cursor, win, { last, 0 })
end

--- Appends streamed text.
---@param task aumatron.Task
---@param delta string
function M.append(task, delta)
  local buf = ensure_buffer(task)
  edit(buf, function()
    local last = vim.api.nvim_buf_line_count(buf) - 1
    local tail = vim.api.nvim_buf_get_lines(buf, last, last + 1, false)[1] or ''
    local lines = vim.split(tail .. delta, '\n', { plain = true })
    vim.api.nvim_buf_set_lines(buf, last, last + 1, false, lines)
  end)
  follow(buf)
  decorate(task)
end

--- Replaces the buffer's text.
---@param task aumatron.Task
---@param text string
function M.set_text(task, text)
  local buf = ensure_buffer(task)
  edit(buf, function()
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
  end)
  follow(buf)
  decorate(task)
end

--- Adds a note after the answer (a failure, a cancellation), marked as a comment.
---@param task aumatron.Task
---@param note string
function M.add_note(task, note)
  local buf = ensure_buffer(task)
  edit(buf, function()
    local lines = vim.split(note, '\n', { plain = true })
    local count = vim.api.nvim_buf_line_count(buf)
    local only = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    local empty = count == 1 and only[1] == ''
    if empty then
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    else
      table.insert(lines, 1, '')
      vim.api.nvim_buf_set_lines(buf, -1, -1, false, lines)
    end
    local first = vim.api.nvim_buf_line_count(buf) - #vim.split(note, '\n', { plain = true })
    for row = first, vim.api.nvim_buf_line_count(buf) - 1 do
      vim.api.nvim_buf_set_extmark(buf, namespace, row, 0, { line_hl_group = 'Comment' })
    end
  end)
  follow(buf)
  decorate(task)
end

--- Refreshes the title and status for `task`.
---@param task aumatron.Task
function M.refresh(task)
  decorate(task)
end

--- Closes the output window.
function M.close()
  if M.win and vim.api.nvim_win_is_valid(M.win) then
    vim.api.nvim_win_close(M.win, true)
  end
  M.win = nil
end

return M
