import { useEffect, useState } from "react";
import { useParams } from "react-router-dom";
import { getProduct, type Product } from "../api/products";
import { PriceTag } from "../components/PriceTag";
import { useCart } from "../hooks/useCart";

export function ProductPage() {
  const { slug } = useParams();
  const [product, setProduct] = useState<Product | null>(null);
  const { addItem } = useCart();

  useEffect(() => {
    if (slug) getProduct(slug).then(setProduct);
  }, [slug]);

  if (!product) return <p>Loading…</p>;
  return (
    <article>
      <h1>{product.name}</h1>
      <img src={product.imageUrl} alt={product.name} />
      <PriceTag cents={product.priceCents} />
      <p>{product.description}</p>
      {/* TODO: show "only N left" when stock is low */}
      <button disabled={product.stock === 0} onClick={() => addItem(product, 1)}>
        Add to cart
      </button>
    </article>
  );
}
