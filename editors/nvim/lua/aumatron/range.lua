--- Turning what the user selected into an LSP range, in the client's position
--- encoding. A charwise selection keeps its columns; a linewise or blockwise one, a
--- command range (`:10,20Aumatron explain`) and the current line all become whole
--- lines, ending at the start of the next line (`{ line = line_count, character = 0 }`
--- at the end of the buffer, which the protocol reads as the end of the document).

local M = {}

---@param bufnr integer
---@param row integer 0-based
---@return string
local function line_text(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
end

---@param bufnr integer
---@param row integer 0-based
---@param byte integer 0-based byte column
---@param encoding string
---@return lsp.Position
local function position(bufnr, row, byte, encoding)
  local text = line_text(bufnr, row)
  local character = byte == 0 and 0 or vim.str_utfindex(text, encoding, byte, false)
  return { line = row, character = character }
end

--- Whole lines `first` to `last` (1-based, inclusive).
---@param first integer
---@param last integer
---@return lsp.Range
function M.lines(first, last)
  if last < first then
    first, last = last, first
  end
  return {
    start = { line = first - 1, character = 0 },
    ['end'] = { line = last, character = 0 },
  }
end

--- A charwise selection from `from` to `to`, both `{ row, col }` with a 1-based row
--- and a 0-based byte column of the first and last selected characters (as
--- `nvim_buf_get_mark` gives them). The last character is included, whatever its
--- width; a column past the end of its line takes in the line break.
---@param bufnr integer
---@param from [integer, integer]
---@param to [integer, integer]
---@param encoding string
---@param exclusive boolean? true when 'selection' is "exclusive"
---@return lsp.Range
function M.charwise(bufnr, from, to, encoding, exclusive)
  if to[1] < from[1] or (to[1] == from[1] and to[2] < from[2]) then
    from, to = to, from
  end
  local start_row, end_row = from[1] - 1, to[1] - 1
  local start_text = line_text(bufnr, start_row)
  local start_byte = math.min(from[2], #start_text)

  local end_text = line_text(bufnr, end_row)
  local end_byte
  if exclusive then
    end_byte = math.min(to[2], #end_text)
  elseif to[2] >= #end_text then
    return {
      start = position(bufnr, start_row, start_byte, encoding),
      ['end'] = { line = end_row + 1, character = 0 },
    }
  else
    -- str_utf_end counts the bytes after `to[2]` that belong to the same character.
    end_byte = to[2] + 1 + vim.str_utf_end(end_text, to[2] + 1)
  end
  return {
    start = position(bufnr, start_row, start_byte, encoding),
    ['end'] = position(bufnr, end_row, end_byte, encoding),
  }
end

---@param mode string
---@return boolean
local function is_visual(mode)
  return mode == 'v' or mode == 'V' or mode == '\22'
end

--- The range a `:Aumatron` task command applies to.
---
--- - Run from a key map while Visual mode is still active (`<Cmd>Aumatron ...<CR>`):
---   the live selection, and Visual mode is ended.
--- - Run as `:'<,'>Aumatron ...` right after a selection: the selection as it was
---   made (charwise, linewise or blockwise).
--- - Any other range, or none: the lines it names, or the current line.
---@param bufnr integer
---@param command { range: integer, line1: integer, line2: integer }
---@param encoding string
---@return lsp.Range
function M.for_command(bufnr, command, encoding)
  local exclusive = vim.o.selection == 'exclusive'
  local mode = vim.fn.mode()
  if is_visual(mode) then
    local v, cursor = vim.fn.getpos('v'), vim.fn.getpos('.')
    vim.api.nvim_feedkeys(vim.keycode('<Esc>'), 'nx', false)
    if mode == 'v' then
      return M.charwise(
        bufnr,
        { v[2], v[3] - 1 },
        { cursor[2], cursor[3] - 1 },
        encoding,
        exclusive
      )
    end
    return M.lines(v[2], cursor[2])
  end

  if command.range == 2 then
    local from = vim.api.nvim_buf_get_mark(bufnr, '<')
    local to = vim.api.nvim_buf_get_mark(bufnr, '>')
    local from_visual = from[1] == command.line1 and to[1] == command.line2
    if from_visual and vim.fn.visualmode() == 'v' then
      return M.charwise(bufnr, from, to, encoding, exclusive)
    end
  end
  return M.lines(command.line1, command.line2)
end

return M
