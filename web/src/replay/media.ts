// Chromium shows its own controls on every <video> of a document where
// scripts cannot run (the replay iframe); the recorded page showed none
// unless it asked for them. Media state itself is rrweb's.
export const MEDIA_RULES = ["video:not([controls])::-webkit-media-controls { display: none !important; }"];
