--- The cloud budget as the server last reported it (`aumatron/budgetDidChange`, or
--- the answer to `aumatron/budget`), its text for a statusline, and the
--- `:Aumatron budget` report. Every change fires `User AumatronBudget` and redraws
--- the statusline, so any statusline, lualine included, stays current.

local lsp_client = require('aumatron.client')

local M = {}

---@type table? the last budget object, as the protocol defines it
M.state = nil

--- Dollars for people: `$10` for whole amounts, cents from a cent up, and four
--- decimals below a cent, so a first small charge (`$0.0012`) does not read as
--- nothing.
---@param usd number?
---@return string
function M.format_usd(usd)
  usd = tonumber(usd) or 0
  if usd == 0 then
    return '$0'
  end
  if usd == math.floor(usd) and usd >= 1 then
    return ('$%d'):format(usd)
  end
  if usd >= 0.01 then
    return ('$%.2f'):format(usd)
  end
  if usd < 0.0001 then
    return '<$0.0001'
  end
  return (('$%.4f'):format(usd):gsub('0+$', ''))
end

--- Handles a budget state from the server.
---@param state table
function M.on_budget(state)
  if type(state) ~= 'table' then
    return
  end
  M.state = state
  vim.api.nvim_exec_autocmds('User', { pattern = 'AumatronBudget', modeline = false, data = state })
  vim.cmd('redrawstatus!')
  local lualine = package.loaded['lualine']
  if lualine and type(lualine.refresh) == 'function' then
    pcall(lualine.refresh, { place = { 'statusline' } })
  end
end

--- The spend against the cap and the state, for a statusline: `AI $1.23/$10`,
--- `AI $8.40/$10 warning`, `AI $10/$10 exhausted`, `AI local only`; empty until
--- the server has reported a budget.
---@return string
function M.statusline()
  local state = M.state
  if not state then
    return ''
  end
  if state.state == 'local-only' then
    return 'AI local only'
  end
  local text = ('AI %s/%s'):format(M.format_usd(state.spentUsd), M.format_usd(state.capUsd))
  if state.state == 'warning' or state.state == 'exhausted' then
    text = text .. ' ' .. state.state
  end
  return text
end

local highlights = {
  ok = 'AumatronBudgetOk',
  warning = 'AumatronBudgetWarning',
  exhausted = 'AumatronBudgetExhausted',
  ['local-only'] = 'AumatronBudgetLocalOnly',
}

--- The highlight group for the current state (for lualine's `color`, or `%#...#`).
---@return string
function M.highlight()
  return highlights[M.state and M.state.state or 'ok'] or highlights.ok
end

function M.define_highlights()
  vim.api.nvim_set_hl(0, highlights.ok, { link = 'StatusLine', default = true })
  vim.api.nvim_set_hl(0, highlights.warning, { link = 'DiagnosticWarn', default = true })
  vim.api.nvim_set_hl(0, highlights.exhausted, { link = 'DiagnosticError', default = true })
  vim.api.nvim_set_hl(0, highlights['local-only'], { link = 'StatusLineNC', default = true })
end

--- Asks `client` for the budget; `done(state, err)` runs with the answer.
---@param client vim.lsp.Client
---@param done fun(state: table?, err: string?)?
function M.pull(client, done)
  if not lsp_client.supports_budget(client) then
    if done then
      done(nil, 'this aumatron-lsp does not report a budget; update the server')
    end
    return
  end
  client:request('aumatron/budget', nil, function(err, result)
    if err then
      if done then
        done(nil, err.message or tostring(err))
      end
      return
    end
    M.on_budget(result)
    if done then
      done(result, nil)
    end
  end)
end

--- The budget report, one string per line.
---@param state table
---@return string[]
function M.report(state)
  local lines = {}
  local period = state.period or {}
  table.insert(
    lines,
    ('Aumatron budget for %s to %s (UTC)'):format(
      tostring(period.start or '?'):sub(1, 10),
      tostring(period['end'] or '?'):sub(1, 10)
    )
  )
  local warn = tonumber(state.warnFraction)
  table.insert(
    lines,
    ('  spent %s of %s; reserved %s; remaining %s; state %s%s'):format(
      M.format_usd(state.spentUsd),
      M.format_usd(state.capUsd),
      M.format_usd(state.reservedUsd),
      M.format_usd(state.remainingUsd),
      tostring(state.state),
      warn and (' (warning from %d%%)'):format(math.floor(warn * 100 + 0.5)) or ''
    )
  )
  for _, provider in ipairs(state.providers or {}) do
    local key = provider.keyState or (provider.hasKey and 'ok' or 'missing')
    local where = provider['local'] and 'local, no key needed' or ('key ' .. key)
    table.insert(
      lines,
      ('  %-10s %s %s (%s): %s in %d request%s'):format(
        tostring(provider.id),
        tostring(provider.name or provider.id),
        tostring(provider.model or '?'),
        where,
        M.format_usd(provider.spentUsd),
        tonumber(provider.requests) or 0,
        tonumber(provider.requests) == 1 and '' or 's'
      )
    )
  end
  local last = state.last
  if type(last) == 'table' then
    table.insert(
      lines,
      ('  last: %s on %s %s, %d in / %d out tokens, %s, at %s'):format(
        tostring(last.taskId),
        tostring(last.provider),
        tostring(last.model),
        tonumber(last.inputTokens) or 0,
        tonumber(last.outputTokens) or 0,
        M.format_usd(last.costUsd),
        tostring(last.at)
      )
    )
  end
  if state.pricesAsOf then
    table.insert(lines, ('  prices as of %s'):format(state.pricesAsOf))
  end
  return lines
end

--- `:Aumatron budget`: asks the server and echoes the report (kept in `:messages`).
function M.show()
  local client, err = lsp_client.any()
  if not client then
    lsp_client.notify(err --[[@as string]], vim.log.levels.ERROR)
    return
  end
  if not lsp_client.supports_budget(client) then
    lsp_client.notify(
      'this aumatron-lsp does not report a budget; update the server',
      vim.log.levels.ERROR
    )
    return
  end
  -- Synchronous, so the report is printed before the command returns (and can be
  -- captured with :redir or nvim_exec2).
  local response, request_err = client:request_sync('aumatron/budget', nil, 5000)
  if not response then
    lsp_client.notify('no budget from the server: ' .. tostring(request_err), vim.log.levels.ERROR)
    return
  end
  if response.err then
    lsp_client.notify(response.err.message or vim.inspect(response.err), vim.log.levels.ERROR)
    return
  end
  M.on_budget(response.result)
  local chunks = {}
  for i, line in ipairs(M.report(response.result)) do
    table.insert(chunks, { line, i == 1 and 'Title' or 'Normal' })
    table.insert(chunks, { '\n' })
  end
  table.remove(chunks)
  vim.api.nvim_echo(chunks, true, {})
end

--- `:Aumatron cap <usd>`: sets the monthly cap in the user's config file.
---@param usd number
function M.set_cap(usd)
  local client, err = lsp_client.any()
  if not client then
    lsp_client.notify(err --[[@as string]], vim.log.levels.ERROR)
    return
  end
  lsp_client.execute(client, 'aumatron.setCap', { usd = usd }, function(state)
    M.on_budget(state)
    lsp_client.notify(('monthly cap set to %s'):format(M.format_usd(usd)))
  end)
end

return M
