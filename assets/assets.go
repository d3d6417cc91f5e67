// Package assets holds the files Custody carries inside its binary: the icon and demo data.
package assets

import _ "embed"

// IconPNG is the application icon, 512×512.
//
//go:embed icon.png
var IconPNG []byte
