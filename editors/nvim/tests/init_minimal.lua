-- An init that uses only Neovim's own API, as a user without setup() would:
-- the plugin on the runtimepath, the server's path, and vim.lsp.enable().
vim.opt.runtimepath:prepend(assert(vim.env.AUMATRON_NVIM_PLUGIN))
vim.o.swapfile = false
_G.T = { notes = {} }
vim.notify = function(message, level)
  table.insert(T.notes, { message = message, level = level })
end
vim.lsp.config('aumatron', { cmd = { (assert(vim.env.AUMATRON_LSP_BIN)) } })
vim.lsp.enable('aumatron')
