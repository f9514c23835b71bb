-- aumatron: local-first AI through aumatron-lsp. Defines :Aumatron and the
-- autocommands that keep the budget current; `require('aumatron').setup{}` is only
-- needed for options. See :help aumatron.
if vim.g.loaded_aumatron then
  return
end
vim.g.loaded_aumatron = true

if vim.fn.has('nvim-0.11') == 0 then
  vim.notify('aumatron needs Neovim 0.11 or later', vim.log.levels.ERROR)
  return
end

vim.api.nvim_create_user_command('Aumatron', function(command)
  require('aumatron.command').run(command)
end, {
  nargs = '+',
  range = true,
  desc = 'Aumatron: summarise, explain or draft; cancel; keys; budget',
  complete = function(lead, line)
    return require('aumatron.command').complete(lead, line)
  end,
})

local group = vim.api.nvim_create_augroup('aumatron', { clear = true })

require('aumatron.budget').define_highlights()
vim.api.nvim_create_autocmd('ColorScheme', {
  group = group,
  callback = function()
    require('aumatron.budget').define_highlights()
  end,
})

-- Pull the budget once per client, so the statusline has it before anything changes.
local pulled = {}
vim.api.nvim_create_autocmd('LspAttach', {
  group = group,
  callback = function(event)
    local client = vim.lsp.get_client_by_id(event.data.client_id)
    if not client or client.name ~= 'aumatron' or pulled[client.id] then
      return
    end
    pulled[client.id] = true
    require('aumatron.budget').pull(client)
  end,
})
