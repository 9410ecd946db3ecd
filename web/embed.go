// Package web embeds the built dashboard (a Vite single-page app) so the
// gateway can serve it from the one binary. `npm ci && npm run build` in this
// directory fills dist/; a fresh checkout holds only the dist/.gitkeep
// placeholder, which Built reports.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Assets returns the built dashboard rooted at dist/ (index.html, assets/...).
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub only fails on an invalid path; "dist" is a constant.
		panic(err)
	}
	return sub
}

// Built reports whether dist/ holds a build rather than only the placeholder.
func Built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}
