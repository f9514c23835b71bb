-- The client configuration for aumatron-lsp, found by `vim.lsp.enable('aumatron')`.
-- Override any field with `vim.lsp.config('aumatron', { ... })`, or give `cmd` and
-- `settings` to `require('aumatron').setup{}`. See :help aumatron-setup.
local client = require('aumatron.client')

---@type vim.lsp.Config
return {
  cmd = { 'aumatron-lsp' },
  -- No `filetypes`: the server works on code and prose alike, so it attaches to
  -- every file buffer.
  root_markers = { '.git' },
  capabilities = client.capabilities(),
  handlers = client.handlers(),
}
